"""The spine end to end, over real HTTP on loopback: portals submit, the hub routes and seals,
each demo connector pulls, opens, stores and receipts, and coordinators see every delivery done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from hub.crypto import open_packet
from hub.errors import PacketInvalid
from schemas.envelope import Envelope
from tests.conftest import LiveHub, choose_readable_files, opened_reports
from tests.factories import report_body

CASES: dict[str, tuple[tuple[str | None, ...], set[str]]] = {
    "austrian": (("AT",), {"at-police", "at-section"}),
    "belgian": (("BE",), {"be-police", "be-section"}),
    "german": (("DE",), {"de-police", "de-section"}),
    "dutch": (("NL",), {"nl-police", "nl-section"}),
    "german-and-dutch": (("DE", "NL"), {"de-police", "de-section", "nl-police", "nl-section"}),
    "non-member": (("US",), {"network-coordinator"}),
}


def submit_all(hub: LiveHub) -> dict[str, str]:
    """Submit one report per case from the international platform; return case -> report id."""
    ids = {}
    with httpx.Client(base_url=hub.url, headers=hub.network.auth("platform-int")) as client:
        for case, (nationalities, _) in CASES.items():
            body = report_body("platform-int", country="TH", nationalities=nationalities)
            answer = client.post("/v1/reports", json=body)
            assert answer.status_code == 202, answer.text
            ids[case] = body["report_id"]
    return ids


def stored_reports(hub: LiveHub, recipient: str) -> dict[str, dict[str, Any]]:
    reports = opened_reports(hub.network.connector_config(recipient))
    return {report_id: report.model_dump(mode="json") for report_id, report in reports.items()}


def test_each_report_lands_at_exactly_the_expected_recipients_and_is_receipted(
    live_hub: LiveHub,
) -> None:
    ids = submit_all(live_hub)
    for recipient in live_hub.network.recipient_ids:
        pull_until_empty(load_config(live_hub.network.connector_config(recipient)))
    holders: dict[str, set[str]] = {report_id: set() for report_id in ids.values()}
    for recipient in live_hub.network.recipient_ids:
        for report_id, report in stored_reports(live_hub, recipient).items():
            assert report["report_id"] == report_id
            holders[report_id].add(recipient)
    with httpx.Client(
        base_url=live_hub.url, headers=live_hub.network.auth("network-coordinator")
    ) as client:
        for case, (_, expected) in CASES.items():
            assert holders[ids[case]] == expected, case
            status = client.get(f"/v1/reports/{ids[case]}/deliveries").json()
            assert {d["recipient_id"] for d in status["deliveries"]} == expected
            assert {d["state"] for d in status["deliveries"]} == {"delivered"}
            assert all(d["receipt"] for d in status["deliveries"])


def test_the_stored_readings_carry_the_hub_signature_and_the_receipt(live_hub: LiveHub) -> None:
    submit_all(live_hub)
    choose_readable_files(live_hub.network.connector_config("nl-police"))
    config = load_config(live_hub.network.connector_config("nl-police"))
    pull_until_empty(config)
    readings = sorted((config.store_dir / "reports").glob("*.txt"))
    assert readings
    for reading in readings:
        text = reading.read_text(encoding="utf-8")
        assert "no receipt yet" not in text
        assert "not available" not in text


def test_a_second_pull_after_everything_is_receipted_finds_nothing(live_hub: LiveHub) -> None:
    submit_all(live_hub)
    config = load_config(live_hub.network.connector_config("nl-police"))
    first = pull_until_empty(config)
    assert len(first.stored) == 2
    again = pull_until_empty(config)
    assert again.pulled == 0
    assert len(stored_reports(live_hub, "nl-police")) == 2


def test_one_recipient_can_neither_list_nor_open_anothers_packet(live_hub: LiveHub) -> None:
    submit_all(live_hub)
    network = live_hub.network
    with httpx.Client(base_url=live_hub.url) as client:
        at_inbox = client.get("/v1/inbox", headers=network.auth("at-police")).json()["packets"]
        nl_inbox = client.get("/v1/inbox", headers=network.auth("nl-police")).json()["packets"]
    at_packets = [Envelope.model_validate(p) for p in at_inbox]
    assert at_packets
    assert not {p.payload for p in at_packets} & {p["payload"] for p in nl_inbox}
    nl_keys = network.keys("nl-police")
    assert nl_keys.sealing is not None
    for packet in at_packets:
        with pytest.raises(PacketInvalid):
            open_packet(packet, hub_keys=network.hub_trust(), private=nl_keys.sealing)


def test_a_recipient_that_crashes_before_receipting_gets_its_packets_again(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    """The lease ends, the packet comes back, and the connector stores it once."""
    submit_all(live_hub)
    network = live_hub.network
    with httpx.Client(base_url=live_hub.url) as client:
        leased = client.get("/v1/inbox", headers=network.auth("be-police")).json()["packets"]
    assert len(leased) == 1
    config = load_config(network.connector_config("be-police"))
    assert pull_until_empty(config).pulled == 0  # still leased to the "crashed" pull
    assert not stored_reports(live_hub, "be-police")
