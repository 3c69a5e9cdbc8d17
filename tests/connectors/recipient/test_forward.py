"""Forwarding over real HTTP on loopback: a section passes a report on to its police through the
hub, the police verify it offline against the hub's acknowledgement, and what the hub refuses."""

from __future__ import annotations

import ast
import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from connectors.cli.main import app
from connectors.client import HubClient
from connectors.config import ConnectorConfig, load_config, read_token
from connectors.errors import ForwardRefused, HubRefused
from connectors.recipient.forward import forward_report, seal_forward, withheld_fields
from connectors.recipient.forwarded import OpenedForward, open_forward
from connectors.recipient.pull import load_keys, open_with, pull_until_empty
from hub.audit.log import entries
from hub.commitment import CONTACT_FIELDS, report_fields
from hub.crypto import OpenedPacket, sign_envelope, verify_acknowledgement, verify_envelope
from hub.store import CopyDeletionRow, ForwardRow, make_engine
from schemas.commitment import FORWARD_TYPE, ForwardAdditions, ForwardBody, ForwardRequest
from schemas.envelope import PACKET_TYPE, Envelope, PacketBody
from schemas.report import Report
from tests.conftest import ROOT, LiveHub
from tests.connectors.conftest import make_report
from tests.connectors.doc_examples import table_members
from tests.factories import report_body

CONTACT = {
    "kind": "contact",
    "name": "Jan Peeters",
    "email": "jan@example.be",
    "consent_to_contact": True,
    "preferred_language": "nl",
}


def _submit(hub: LiveHub, reporter: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Belgian report (be-section and be-police receive it); the intake answer."""
    body = report_body("portal-be", nationalities=("BE",))
    if reporter is not None:
        body["reporter"] = reporter
    answer = httpx.post(
        f"{hub.url}/v1/reports", json=body, headers=hub.network.auth("portal-be"), timeout=10
    )
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _config(hub: LiveHub, recipient: str) -> ConnectorConfig:
    return load_config(hub.network.connector_config(recipient))


def _packets(config: ConnectorConfig) -> dict[str, tuple[Envelope, PacketBody]]:
    """The packets a connector stores, by packet id, with their verified bodies."""
    keys = load_keys(config)
    found = {}
    for path in sorted((config.store_dir / "packets").glob("*.json")):
        envelope = Envelope.model_validate_json(path.read_bytes())
        body = PacketBody.model_validate_json(verify_envelope(envelope, PACKET_TYPE, keys.hub))
        found[str(body.packet_id)] = (envelope, body)
    return found


def _copy(config: ConnectorConfig, report_id: str) -> str:
    """The packet id of the copy from intake a connector holds of a report."""
    return next(
        packet_id
        for packet_id, (_, body) in _packets(config).items()
        if str(body.report_id) == report_id and not body.forwarded
    )


def _received_forward(config: ConnectorConfig, report_id: str) -> OpenedForward:
    """The forward of a report a connector holds, verified and opened with no network at all."""
    keys = load_keys(config)
    envelope = next(
        envelope
        for envelope, body in _packets(config).values()
        if str(body.report_id) == report_id and body.forwarded
    )
    return open_forward(
        envelope, hub_keys=keys.hub, sealing=keys.sealing, recipient_id=config.recipient_id
    )


def _opened_copy(config: ConnectorConfig, report_id: str) -> OpenedPacket:
    envelope, _ = _packets(config)[_copy(config, report_id)]
    return open_with(envelope, load_keys(config), config.recipient_id)


def _send(hub: LiveHub, sender: str, request: ForwardRequest) -> None:
    config = _config(hub, sender)
    with HubClient(hub.url, read_token(config.credential_file)) as client:
        client.send_forward(request)


def _key_of(hub: LiveHub, recipient: str) -> Any:
    keys = hub.network.keys(recipient)
    assert keys.sealing is not None
    return keys.sealing.public_key


def test_the_receiver_verifies_a_forward_offline_against_the_hubs_acknowledgement(
    live_hub: LiveHub,
) -> None:
    answer = _submit(live_hub)
    report_id = answer["report_id"]
    section, police = _config(live_hub, "be-section"), _config(live_hub, "be-police")
    pull_until_empty(section)
    result = forward_report(
        section,
        _copy(section, report_id),
        to_recipient_id="be-police",
        classification="sexual_exploitation.travel_and_tourism",
        note="Enough usable information: passed on under our agreement.",
    )
    assert str(result.answer.report_id) == report_id
    pulled = pull_until_empty(police)
    assert not pulled.failed, pulled.problems
    received = _received_forward(police, report_id)
    acknowledged = verify_acknowledgement(
        Envelope.model_validate(answer["acknowledgement"]), load_keys(police).hub
    )
    assert acknowledged.commitment_root == received.commitment.root
    original = _opened_copy(police, report_id).report  # the police's own copy from intake
    assert received.fields == report_fields(original)
    assert received.opening.withheld == []
    assert received.forwarder_id == "be-section"
    assert received.opening.additions == ForwardAdditions(
        classification="sexual_exploitation.travel_and_tourism",
        note="Enough usable information: passed on under our agreement.",
    )
    coordinator = live_hub.network.auth("network-coordinator")
    deliveries = httpx.get(
        f"{live_hub.url}/v1/reports/{report_id}/deliveries", headers=coordinator, timeout=10
    ).json()["deliveries"]
    forwarded = [d for d in deliveries if d["rules"] == ["forward"]]
    assert [(d["recipient_id"], d["state"]) for d in forwarded] == [("be-police", "delivered")]
    assert forwarded[0]["receipt"] is not None


def test_a_forward_whose_content_differs_from_what_was_acknowledged_is_detected(
    live_hub: LiveHub,
) -> None:
    report_id = _submit(live_hub)["report_id"]
    section, police = _config(live_hub, "be-section"), _config(live_hub, "be-police")
    pull_until_empty(section)
    opened = _opened_copy(section, report_id)
    incident = opened.report.incident.model_copy(update={"place": "Somewhere else"})
    altered = OpenedPacket(
        body=opened.body,
        sealed_sha256=opened.sealed_sha256,
        report=opened.report.model_copy(update={"incident": incident}),
        salt=opened.salt,
    )
    request = seal_forward(
        altered,
        signing_key=load_keys(section).signing,
        to_recipient_id="be-police",
        to_key=_key_of(live_hub, "be-police"),
        withheld=[],
        additions=ForwardAdditions(),
        now=opened.body.sealed_at,
    )
    _send(live_hub, "be-section", request)  # the hub cannot tell: it never reads a forward
    pulled = pull_until_empty(police)
    assert len(pulled.rejected) == 1
    assert "differs from what the hub acknowledged" in pulled.problems[0]
    assert all(not body.forwarded for _, body in _packets(police).values())


def test_nobody_can_forward_a_report_it_never_received(live_hub: LiveHub) -> None:
    report_id = _submit(live_hub)["report_id"]
    section = _config(live_hub, "be-section")
    pull_until_empty(section)
    stolen = _opened_copy(section, report_id)  # de-section never received it
    thief = load_keys(_config(live_hub, "de-section")).signing
    request = seal_forward(
        stolen,
        signing_key=load_keys(section).signing,
        to_recipient_id="de-police",
        to_key=_key_of(live_hub, "de-police"),
        withheld=[],
        additions=ForwardAdditions(),
        now=stolen.body.sealed_at,
    )
    payload = ForwardBody.model_validate_json(base64.b64decode(request.forward.payload))
    as_thief = ForwardRequest(
        forward=sign_envelope(
            FORWARD_TYPE, payload.model_copy(update={"from_recipient_id": "de-section"}), thief
        ),
        sealed=request.sealed,
    )
    with pytest.raises(HubRefused) as refused:
        _send(live_hub, "de-section", as_thief)
    assert refused.value.status == 404
    with pytest.raises(HubRefused) as forged:  # nor in another's name
        _send(live_hub, "de-section", request)
    assert forged.value.status == 422


@pytest.mark.parametrize("target", ["network-coordinator", "be-section"])
def test_a_report_is_forwarded_only_to_another_section_or_police_desk(
    live_hub: LiveHub, target: str
) -> None:
    report_id = _submit(live_hub)["report_id"]
    section = _config(live_hub, "be-section")
    pull_until_empty(section)
    opened = _opened_copy(section, report_id)
    request = seal_forward(
        opened,
        signing_key=load_keys(section).signing,
        to_recipient_id=target,
        to_key=_key_of(live_hub, target),
        withheld=[],
        additions=ForwardAdditions(),
        now=opened.body.sealed_at,
    )
    with pytest.raises(HubRefused) as refused:
        _send(live_hub, "be-section", request)
    assert refused.value.status == 422
    assert refused.value.errors == [("forward.to_recipient_id", "not a section or police desk")]
    with pytest.raises(ForwardRefused):
        forward_report(section, opened.body.packet_id.hex, to_recipient_id="network-coordinator")


@pytest.mark.parametrize("share_contact", [False, True])
def test_contact_details_go_on_only_where_the_reporter_consented_and_the_forwarder_shares_them(
    live_hub: LiveHub, share_contact: bool
) -> None:
    report_id = _submit(live_hub, reporter=CONTACT)["report_id"]
    section, police = _config(live_hub, "be-section"), _config(live_hub, "be-police")
    pull_until_empty(section)
    result = forward_report(
        section, _copy(section, report_id), to_recipient_id="be-police", share_contact=share_contact
    )
    pull_until_empty(police)
    received = _received_forward(police, report_id)  # verifies, withheld fields and all
    expected = set() if share_contact else set(CONTACT_FIELDS)
    assert set(result.withheld) == set(received.opening.withheld) == expected
    assert not expected & received.fields.keys()
    assert received.fields["reporter.consent_to_contact"] is True
    committed = {leaf.name for leaf in received.commitment.leaves}
    assert expected <= committed  # still committed: the receiver sees them withheld, not absent
    if share_contact:
        assert received.fields["reporter.email"] == CONTACT["email"]


def test_an_anonymous_report_has_no_contact_details_to_pass_on() -> None:
    assert withheld_fields(make_report(), share_contact=True) == set()
    contact: Report = make_report(reporter=CONTACT)
    assert withheld_fields(contact, share_contact=False) == set(CONTACT_FIELDS)


def test_the_forwarders_copy_is_deleted_where_the_procedure_says_so_and_the_hub_records_it(
    live_hub: LiveHub,
) -> None:
    report_id = _submit(live_hub)["report_id"]
    section = _config(live_hub, "be-section")
    pull_until_empty(section)
    packet_id = _copy(section, report_id)
    result = forward_report(section, packet_id, to_recipient_id="be-police", delete_copy=True)
    assert result.deleted is not None
    assert str(result.deleted.report_id) == report_id
    assert not list(Path(section.store_dir).rglob(f"{packet_id}.json"))
    engine = make_engine(live_hub.settings.resolved_database_url)
    try:
        with Session(engine) as session:
            deletion = session.get(CopyDeletionRow, (report_id, "be-section"))
            assert deletion is not None
            assert deletion.reason == "forwarded"
            forward = session.exec(select(ForwardRow).where(ForwardRow.report_id == report_id))
            assert [row.to_recipient_id for row in forward] == ["be-police"]
            kinds = [e.kind for e in entries(session, report_id=report_id)]
        assert "forward_accepted" in kinds
        assert kinds[-1] == "copy_deleted"
    finally:
        engine.dispose()


def test_the_forward_commands_forward_a_report_and_verify_it_as_received(live_hub: LiveHub) -> None:
    report_id = _submit(live_hub, reporter=CONTACT)["report_id"]
    section, police = _config(live_hub, "be-section"), _config(live_hub, "be-police")
    pull_until_empty(section)
    sent = CliRunner().invoke(
        app,
        [
            "forward", _copy(section, report_id),
            "--config", str(live_hub.network.connector_config("be-section")),
            "--to", "be-police", "--classification", "sexual_exploitation.travel_and_tourism",
            "--delete-copy",
        ],
    )  # fmt: skip
    assert sent.exit_code == 0, sent.stderr
    assert "withheld: reporter.email, reporter.name, reporter.phone" in sent.stdout
    assert "copy deleted" in sent.stdout
    pull_until_empty(police)
    forwarded = next(pid for pid, (_, body) in _packets(police).items() if body.forwarded)
    checked = CliRunner().invoke(
        app,
        [
            "verify-forward",
            forwarded,
            "--config",
            str(live_hub.network.connector_config("be-police")),
        ],
    )
    assert checked.exit_code == 0, checked.stderr
    # In-process, unconfigured structlog prints to stdout before the verdict (the `connector`
    # command itself logs to stderr): the verdict is the JSON document that ends the output.
    out = checked.stdout
    verdict = json.loads(out if out.startswith("{") else out[out.index("\n{") + 1 :])
    assert verdict["verdict"] == "VERIFIED"
    assert verdict["forwarded_by"] == "be-section"
    assert verdict["withheld"] == sorted(CONTACT_FIELDS)
    assert verdict["added"]["classification"] == "sexual_exploitation.travel_and_tourism"


EXAMPLE_MARKER = "<!-- forward-example -->"
EXAMPLE_IMPORTS = {"base64", "hashlib", "json", "sys", "nacl", "cryptography"}


def _example() -> str:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    found = re.search(re.escape(EXAMPLE_MARKER) + r"\s*```python\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, "docs/protocol.md has no forward example"
    return found.group(1)


def _run_example(hub: LiveHub, packet: Envelope, folder: Path) -> subprocess.CompletedProcess[str]:
    """docs/protocol.md's forward example as written, as be-police, on one forwarded packet."""
    entry = hub.network.entry("be-police")
    folder.mkdir()
    (folder / "example.py").write_text(_example(), encoding="utf-8")
    hub_key = hub.network.listing_path.parent / "hub.pub.json"
    (folder / "hub-public-keys.json").write_bytes(hub_key.read_bytes())
    (folder / "recipient-keys.pem").write_bytes(Path(entry["keys_file"]).read_bytes())
    (folder / "passphrase.txt").write_bytes(Path(entry["passphrase_file"]).read_bytes())
    (folder / "forwarded-packet.json").write_text(
        json.dumps(packet.model_dump(mode="json")), encoding="utf-8"
    )
    return subprocess.run(
        [sys.executable, "-I", "example.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _leased_forward(hub: LiveHub, report_id: str) -> Envelope:
    """The forwarded packet of a report waiting in be-police's inbox, as the hub hands it out."""
    answer = httpx.get(f"{hub.url}/v1/inbox", headers=hub.network.auth("be-police"), timeout=10)
    for item in answer.json()["packets"]:
        envelope = Envelope.model_validate(item)
        body = PacketBody.model_validate_json(base64.b64decode(envelope.payload))
        if body.forwarded and str(body.report_id) == report_id:
            return envelope
    raise AssertionError("no forward waiting")


def test_the_protocols_forward_example_imports_only_pynacl_cryptography_and_the_stdlib() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(_example())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= EXAMPLE_IMPORTS


def test_the_protocols_forward_example_verifies_a_forward_and_rejects_an_altered_one(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    answer = _submit(live_hub, reporter=CONTACT)
    report_id = answer["report_id"]
    section = _config(live_hub, "be-section")
    pull_until_empty(section)
    forward_report(section, _copy(section, report_id), to_recipient_id="be-police", note="n")
    forwarded = _leased_forward(live_hub, report_id)
    body = json.loads(base64.b64decode(forwarded.payload))
    assert list(body) == table_members("### Packet (signed by the hub)")
    assert (body["commitment"], body["sealed_salt"]) == (None, None)  # present, as null (§3)
    verified = _run_example(live_hub, forwarded, tmp_path / "good")
    assert verified.returncode == 0, verified.stderr
    printed = json.loads(verified.stdout)
    acknowledged = json.loads(base64.b64decode(answer["acknowledgement"]["payload"]))
    assert printed["commitment_root"] == acknowledged["commitment_root"]
    assert printed["withheld"] == sorted(CONTACT_FIELDS)
    assert printed["additions"] == {"classification": None, "note": "n"}

    opened = _opened_copy(section, report_id)
    altered = OpenedPacket(
        body=opened.body,
        sealed_sha256=opened.sealed_sha256,
        report=opened.report.model_copy(update={"free_text": "words the reporter never wrote"}),
        salt=opened.salt,
    )
    request = seal_forward(
        altered,
        signing_key=load_keys(section).signing,
        to_recipient_id="be-police",
        to_key=_key_of(live_hub, "be-police"),
        withheld=CONTACT_FIELDS,
        additions=ForwardAdditions(),
        now=opened.body.sealed_at,
    )
    _send(live_hub, "be-section", request)
    rejected = _run_example(live_hub, _leased_forward(live_hub, report_id), tmp_path / "altered")
    assert rejected.returncode == 1
    assert rejected.stderr.strip() == "forward rejected"


@pytest.mark.engine("sqlite")
def test_the_hub_keeps_no_readable_forward_and_no_salt(live_hub: LiveHub) -> None:
    marker = "FORWARD-NOTE-MARKER-5c1e"
    report_id = _submit(live_hub, reporter=CONTACT)["report_id"]
    section, police = _config(live_hub, "be-section"), _config(live_hub, "be-police")
    pull_until_empty(section)
    opened = _opened_copy(section, report_id)
    assert opened.salt is not None
    forward_report(section, _copy(section, report_id), to_recipient_id="be-police", note=marker)
    pull_until_empty(police)
    database = Path(live_hub.settings.resolved_database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert b"forward_accepted" in stored  # the database was read, with its forward
    for secret in (marker.encode(), str(CONTACT["email"]).encode(), opened.salt):
        assert secret not in stored
    assert base64.b64encode(opened.salt) not in stored
