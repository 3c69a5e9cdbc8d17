"""The promise of inclusion: an acknowledgement (version 3) promises the index, leaf hash and
deadline of the report's routing entry; the source checks it later against a signed tree head,
and a hub that does not keep it is caught (hub/audit/promise.py, docs/audit.md)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from connectors.cli.main import app as connector
from connectors.countries.profiles import load_profiles
from hub.audit.promise import PromisedInclusion, PromiseState, verify_promise
from hub.audit.verify import audit_round
from hub.cli.main import app as hub_cli
from hub.crypto import sign_acknowledgement, verify_acknowledgement
from hub.errors import InvalidInput, PacketInvalid, ProofInvalid
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import load_hub_secrets
from hub.settings import Settings
from schemas.envelope import AcknowledgementBody, Envelope, RoutedRecipient
from tests.conftest import Clock, LiveHub, Network, provision
from tests.factories import report_body
from tests.hub.audit.test_audit import grow

DOCS = Path(__file__).resolve().parents[3] / "docs"


@pytest.fixture
def quiet(settings: Settings, network: Network, clock: Clock) -> Iterator[TestClient]:
    """The hub's app without its background jobs: the test alone signs tree heads."""
    app = create_app(settings.model_copy(update={"scheduler": False}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def submit(client: TestClient, network: Network, source: str = "portal-nl") -> dict[str, Any]:
    answer = client.post("/v1/reports", json=report_body(source), headers=network.auth(source))
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def acknowledgement(answer: dict[str, Any]) -> Envelope:
    return Envelope.model_validate(answer["acknowledgement"])


def body_of(envelope: Envelope) -> AcknowledgementBody:
    return AcknowledgementBody.model_validate_json(base64.b64decode(envelope.payload))


def sign_head(engine: Engine, settings: Settings, clock: Clock) -> None:
    secrets, published = load_hub_secrets(settings)
    audit_round(engine, key=secrets.signing_key, published=published, now=clock.now)


def inclusion(
    client: TestClient, network: Network, report_id: str, party: str = "portal-nl"
) -> PromisedInclusion | None:
    answer = client.get(f"/v1/reports/{report_id}/inclusion", headers=network.auth(party))
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return PromisedInclusion.model_validate_json(answer.content)


def test_the_acknowledgement_promises_its_routing_entry_by_a_deadline(
    quiet: TestClient, network: Network, settings: Settings, clock: Clock
) -> None:
    answer = submit(quiet, network)
    body = verify_acknowledgement(acknowledgement(answer), network.hub_trust())
    assert body.acknowledgement_version == 3
    assert body.promise is not None
    assert body.promise.deadline == clock.now + settings.promise_within


def test_a_kept_promise_verifies(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    answer = submit(quiet, network)
    clock.advance(seconds=30)
    sign_head(engine, settings, clock)
    served = inclusion(quiet, network, answer["report_id"])
    verdict = verify_promise(acknowledgement(answer), network.hub_trust(), served, now=clock.now)
    assert verdict.state is PromiseState.kept, verdict.reason
    assert f"entry {verdict.promise.leaf_index} of report {answer['report_id']}" in verdict.reason


def test_a_promise_is_kept_for_an_id_another_source_used_first(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    first = report_body("portal-be")
    second = {**report_body("portal-nl"), "report_id": first["report_id"]}
    for body in (first, second):
        sent = quiet.post("/v1/reports", json=body, headers=network.auth(body["source"]))
        assert sent.status_code == 202, sent.text
    clock.advance(seconds=30)
    sign_head(engine, settings, clock)
    served = inclusion(quiet, network, second["report_id"], party="portal-nl")
    verdict = verify_promise(
        acknowledgement(sent.json()), network.hub_trust(), served, now=clock.now
    )
    assert verdict.state is PromiseState.kept, verdict.reason


def _flipped(envelope: Envelope, member: str) -> Envelope:
    payload = json.loads(base64.b64decode(envelope.payload))
    promise = payload["promise"]
    if member == "leaf_hash":
        promise["leaf_hash"] = ("0" if promise["leaf_hash"][0] != "0" else "1") + promise[
            "leaf_hash"
        ][1:]
    elif member == "leaf_index":
        promise["leaf_index"] += 1
    else:
        promise["deadline"] = promise["deadline"].replace(promise["deadline"][:4], "2099", 1)
    flipped = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    return envelope.model_copy(update={"payload": flipped})


@pytest.mark.parametrize("member", ["leaf_hash", "leaf_index", "deadline"])
def test_a_flipped_leaf_hash_index_or_deadline_fails_on_the_signature(
    quiet: TestClient,
    network: Network,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    member: str,
) -> None:
    answer = submit(quiet, network)
    sign_head(engine, settings, clock)
    served = inclusion(quiet, network, answer["report_id"])
    with pytest.raises(PacketInvalid):
        verify_promise(
            _flipped(acknowledgement(answer), member), network.hub_trust(), served, now=clock.now
        )


def test_an_acknowledgement_of_version_2_still_verifies_and_carries_no_promise(
    network: Network, settings: Settings, clock: Clock
) -> None:
    older = AcknowledgementBody(
        acknowledgement_version=2,
        report_id=uuid4(),
        source="portal-nl",
        accepted_at=clock.now,
        recipients=[RoutedRecipient(recipient_id="nl-police", rules=["nationality"])],
        commitment_root="ab" * 32,
    )
    signed = sign_acknowledgement(older, load_hub_secrets(settings)[0].signing_key)
    assert b'"promise"' not in base64.b64decode(signed.payload)  # the bytes are as before
    assert verify_acknowledgement(signed, network.hub_trust()) == older
    with pytest.raises(InvalidInput, match="version 2 carries no promise"):
        verify_promise(signed, network.hub_trust(), None, now=clock.now)


def test_a_tree_head_no_trusted_key_signed_proves_nothing(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    answer = submit(quiet, network)
    sign_head(engine, settings, clock)
    served = inclusion(quiet, network, answer["report_id"])
    assert served is not None
    forged = served.model_copy(
        update={
            "tree_head": served.tree_head.model_copy(
                update={"envelope": _flip_payload(served.tree_head.envelope)}
            )
        }
    )
    with pytest.raises(ProofInvalid, match="not signed by a trusted hub key"):
        verify_promise(acknowledgement(answer), network.hub_trust(), forged, now=clock.now)


def _flip_payload(envelope: Envelope) -> Envelope:
    middle = len(envelope.payload) // 2
    replacement = "A" if envelope.payload[middle] != "A" else "B"
    return envelope.model_copy(
        update={"payload": envelope.payload[:middle] + replacement + envelope.payload[middle + 1 :]}
    )


def test_before_the_deadline_a_promise_not_yet_covered_is_pending_not_broken(
    quiet: TestClient, network: Network, settings: Settings, clock: Clock
) -> None:
    answer = submit(quiet, network)
    assert inclusion(quiet, network, answer["report_id"]) is None
    ack, trust = acknowledgement(answer), network.hub_trust()
    deadline = clock.now + settings.promise_within
    pending = verify_promise(ack, trust, None, now=deadline)
    assert pending.state is PromiseState.pending, pending.reason
    late = verify_promise(ack, trust, None, now=deadline + timedelta(seconds=1))
    assert late.state is PromiseState.broken
    assert "has passed" in late.reason


def test_a_head_signed_after_the_deadline_breaks_the_promise(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    answer = submit(quiet, network)
    clock.advance(seconds=settings.promise_within.total_seconds() + 1)
    sign_head(engine, settings, clock)
    served = inclusion(quiet, network, answer["report_id"])
    verdict = verify_promise(acknowledgement(answer), network.hub_trust(), served, now=clock.now)
    assert verdict.state is PromiseState.broken
    assert "after the deadline" in verdict.reason


def test_a_hub_that_drops_the_promised_entry_and_signs_again_is_caught_after_the_deadline(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    """The entry is deleted from the store and the log grows and is signed without it, as a
    hub restored from a backup taken before the report would (test_rolled_back_log.py)."""
    answer = submit(quiet, network)
    index = body_of(acknowledgement(answer)).promise.leaf_index  # type: ignore[union-attr]
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE leaf_index >= :i"), {"i": index})
        connection.execute(text("UPDATE audit_log SET size = :i"), {"i": index})
    grow(engine, clock, 3)
    sign_head(engine, settings, clock)
    served = inclusion(quiet, network, answer["report_id"])
    assert served is not None
    assert served.tree_head.tree_size > index
    verdict = verify_promise(acknowledgement(answer), network.hub_trust(), served, now=clock.now)
    assert verdict.state is PromiseState.broken
    assert f"does not include the promised leaf at index {index}" in verdict.reason


def test_a_hub_that_never_signs_over_the_entry_is_caught_after_the_deadline(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    answer = submit(quiet, network)
    index = body_of(acknowledgement(answer)).promise.leaf_index  # type: ignore[union-attr]
    with engine.begin() as connection:  # the hub dropped everything from the promised entry on
        connection.execute(text("DELETE FROM audit_entries WHERE leaf_index >= :i"), {"i": index})
        connection.execute(text("UPDATE audit_log SET size = :i"), {"i": index})
    sign_head(engine, settings, clock)  # a head, but below the entry (or none at all)
    clock.advance(seconds=settings.promise_within.total_seconds() + 1)
    served = inclusion(quiet, network, answer["report_id"])
    assert served is None
    verdict = verify_promise(acknowledgement(answer), network.hub_trust(), served, now=clock.now)
    assert verdict.state is PromiseState.broken


def test_the_inclusion_is_404_with_retry_after_until_a_signed_head_covers_the_entry(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    report_id = submit(quiet, network)["report_id"]
    path = f"/v1/reports/{report_id}/inclusion"
    waiting = quiet.get(path, headers=network.auth("portal-nl"))
    assert waiting.status_code == 404
    assert waiting.headers["content-type"] == "application/problem+json"
    assert 1 <= int(waiting.headers["retry-after"]) <= settings.audit_interval_seconds
    assert "promised by" in waiting.json()["detail"]
    clock.advance(seconds=settings.audit_interval_seconds)
    sign_head(engine, settings, clock)
    for party in ("portal-nl", "network-coordinator"):
        served = quiet.get(path, headers=network.auth(party))
        assert served.status_code == 200, (party, served.text)
    other = quiet.get(path, headers=network.auth("portal-at"))
    assert other.status_code == 404  # another source's report is not even named
    assert "retry-after" not in other.headers


def test_the_first_head_over_the_entry_is_served_not_the_newest(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    answer = submit(quiet, network)
    sign_head(engine, settings, clock)
    first = inclusion(quiet, network, answer["report_id"])
    clock.advance(seconds=settings.promise_within.total_seconds() * 2)
    grow(engine, clock, 5)
    sign_head(engine, settings, clock)
    later = inclusion(quiet, network, answer["report_id"])
    assert first is not None
    assert later is not None
    assert later.tree_head == first.tree_head
    verdict = verify_promise(acknowledgement(answer), network.hub_trust(), later, now=clock.now)
    assert verdict.state is PromiseState.kept


# The commands, over real HTTP on loopback


@pytest.fixture
def live(settings: Settings, clock: Clock, tmp_path: Path) -> Iterator[LiveHub]:
    """The hub served on loopback on the test's clock, without its background jobs."""
    quiet_settings = settings.model_copy(update={"scheduler": False})
    with serving(create_app(quiet_settings, clock=clock)) as url:
        network = provision(quiet_settings, tmp_path / "parties", url)
        clock.advance(seconds=10)  # past the registration of the recipients' keys
        yield LiveHub(url=url, settings=quiet_settings, network=network)


def _verify_promise_command(live: LiveHub, ack_file: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        hub_cli,
        [
            "audit",
            "verify-promise",
            str(ack_file),
            "--hub-url",
            live.url,
            "--token-file",
            live.network.entry("portal-nl")["credential_file"],
            "--hub-key",
            str(live.settings.hub_public_key_file),
        ],
    )
    return result.exit_code, result.output


def test_hub_audit_verify_promise_exits_3_not_yet_due_then_0_once_kept(
    live: LiveHub, engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    answer = httpx.post(
        f"{live.url}/v1/reports",
        json=report_body("portal-nl"),
        headers=live.network.auth("portal-nl"),
    )
    assert answer.status_code == 202, answer.text
    ack_file = tmp_path / "answer.json"
    ack_file.write_bytes(answer.content)  # the whole intake answer is read too
    code, output = _verify_promise_command(live, ack_file)
    assert (code, output.splitlines()[-1].split(":")[0]) == (3, "promise pending"), output
    sign_head(engine, live.settings, clock)
    code, output = _verify_promise_command(live, ack_file)
    assert code == 0, output
    assert re.fullmatch(r"promise kept: entry \d+ of report \S+ .*", output.splitlines()[-1])


def test_hub_audit_verify_promise_exits_1_when_broken_and_2_when_it_cannot_check(
    live: LiveHub, clock: Clock, tmp_path: Path
) -> None:
    answer = httpx.post(
        f"{live.url}/v1/reports",
        json=report_body("portal-nl"),
        headers=live.network.auth("portal-nl"),
    )
    assert answer.status_code == 202, answer.text
    ack_file = tmp_path / "ack.json"
    ack_file.write_text(json.dumps(answer.json()["acknowledgement"]), encoding="utf-8")
    # An hour later, and the hub never signed a head over the report's entry.
    with time_machine.travel(clock.now + timedelta(hours=1), tick=False):
        code, output = _verify_promise_command(live, ack_file)
    assert code == 1, output
    assert "promise broken: no signed tree head covers entry" in output
    forged = tmp_path / "forged.json"
    flipped = _flipped(Envelope.model_validate_json(ack_file.read_bytes()), "deadline")
    forged.write_text(flipped.model_dump_json(), encoding="utf-8")
    code, output = _verify_promise_command(live, forged)
    assert code == 2, output
    assert "cannot check the promise" in output


def test_a_portal_keeps_the_acknowledgement_and_checks_the_promise_later(
    live: LiveHub, engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    profile, spec = load_profiles().portal("portal-nl")
    credential = live.network.entry("portal-nl")["credential_file"]
    hub_key = str(live.settings.hub_public_key_file)
    kept = tmp_path / "acks"
    submitted = CliRunner().invoke(
        connector,
        [
            "submit",
            str(profile.path(spec.forms["nl"])),
            "--portal",
            "portal-nl",
            "--hub-url",
            live.url,
            "--credential",
            credential,
            "--hub-key",
            hub_key,
            "--keep-ack",
            str(kept),
        ],
    )
    assert submitted.exit_code == 0, submitted.output
    (ack_file,) = kept.glob("*.ack.json")
    assert f"acknowledgement kept in {ack_file}" in submitted.output
    assert set(json.loads(ack_file.read_text(encoding="utf-8"))) == {
        "payload",
        "payloadType",
        "signatures",
    }  # the signed acknowledgement only: ids, routing, hashes and times, no report content
    check = [
        "verify-promise",
        str(ack_file),
        "--hub-url",
        live.url,
        "--credential",
        credential,
        "--hub-key",
        hub_key,
    ]
    pending = CliRunner().invoke(connector, check)
    assert pending.exit_code == 3, pending.output
    sign_head(engine, live.settings, clock)
    kept_now = CliRunner().invoke(connector, check)
    assert kept_now.exit_code == 0, kept_now.output
    assert kept_now.output.splitlines()[-1].startswith("promise kept: ")


# The documents


def test_the_protocol_and_audit_documents_say_what_the_acknowledgement_promises() -> None:
    protocol = (DOCS / "protocol.md").read_text(encoding="utf-8")
    audit_doc = (DOCS / "audit.md").read_text(encoding="utf-8")
    for member in ("`promise`", "`leaf_index`", "`leaf_hash`", "`deadline`", "`log`"):
        assert member in protocol, member
    assert "`3` with `commitment_root` and `promise`" in protocol
    assert "## Verifying a promise of inclusion" in audit_doc
    for words in ("GET /v1/reports/{report_id}/inclusion", "Retry-After", "exit", "audit_path"):
        assert words in audit_doc, words
