"""The audit log: every step is recorded in its own transaction, tree heads are signed, proofs
verify, and every edit, deletion, reordering or insertion made directly in the database is found."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import rfc8785
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from hub import merkle
from hub.audit import log as audit
from hub.audit.events import (
    EVENT_KINDS,
    AuditEvent,
    CountryProcedure,
    DeliveryModeChanged,
    OperatorAction,
    PacketSuperseded,
    ReportRouted,
)
from hub.audit.high_water import signed_size
from hub.audit.verify import AuditVerdict, audit_round, sign_round, verify_stored
from hub.cli.main import app as cli
from hub.crypto import open_packet, sign_receipt, verify_envelope
from hub.delivery.push import PushWorker
from hub.delivery.retention import purge_due
from hub.delivery.rotation import revoke
from hub.delivery.state import redrive
from hub.errors import NotFound, ProofInvalid
from hub.http.app import create_app
from hub.network.directory import DeliveryMode, set_delivery_mode
from hub.network.keyring import load_hub_secrets, load_webhook_key, published_keys
from hub.settings import Settings
from hub.store import AuditEntryRow, DeliveryRow, ReportRow, alembic_config, make_engine
from keys import PublicKeySet, fingerprint
from schemas.envelope import TREE_HEAD_TYPE, Envelope, PacketBody, TreeHeadBody
from tests.conftest import ROOT, Clock, LiveHub, Network
from tests.factories import report_body
from tests.hub.delivery.test_delivery import accepted, pull, receipt_for, send_receipts

MARKER = "AUDIT-MARKER-6c1f-not-in-the-log"


@pytest.fixture
def quiet(settings: Settings, network: Network, clock: Clock) -> Iterator[TestClient]:
    """The hub's app without its background jobs: the test alone signs and verifies."""
    app = create_app(settings.model_copy(update={"scheduler": False}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def kinds(engine: Engine, report_id: str | None = None) -> list[str]:
    with Session(engine) as session:
        query = select(AuditEntryRow.kind).order_by(col(AuditEntryRow.leaf_index))
        if report_id is not None:
            query = query.where(AuditEntryRow.report_id == report_id)
        return list(session.exec(query).all())


def sign(engine: Engine, settings: Settings, now: datetime) -> AuditVerdict:
    secrets, published = load_hub_secrets(settings)
    return audit_round(engine, key=secrets.signing_key, published=published, now=now)


def verify(engine: Engine, settings: Settings, **kwargs: Any) -> AuditVerdict:
    with Session(engine) as session:
        return verify_stored(session, published_keys(settings), **kwargs)


def deliver(client: TestClient, network: Network, recipient: str = "nl-police") -> str:
    """Submit a report (with a marker in its text), pull and receipt it; return its id."""
    body = report_body(free_text=MARKER)
    assert (
        client.post("/v1/reports", json=body, headers=network.auth("portal-nl")).status_code == 202
    )
    packets = pull(client, network, recipient)
    receipts = [receipt_for(network, recipient, p) for p in packets]
    assert send_receipts(client, network, recipient, receipts).status_code == 200
    return str(body["report_id"])


def test_a_report_s_way_is_recorded_step_by_step_without_its_content(
    quiet: TestClient, network: Network, engine: Engine
) -> None:
    report_id = deliver(quiet, network)
    assert kinds(engine, report_id) == [
        "report_routed",  # first: the acknowledgement promises this entry (docs/audit.md)
        "report_accepted",
        "packet_sealed",
        "packet_sealed",
        "packet_pulled",
        "receipt_verified",
    ]
    with Session(engine) as session:
        entries = session.exec(select(AuditEntryRow)).all()
    assert all(MARKER not in row.entry and "Pattaya" not in row.entry for row in entries)
    receipt = next(json.loads(r.entry) for r in entries if r.kind == "receipt_verified")
    assert receipt["event"]["recipient_id"] == "nl-police"
    assert receipt["event"]["via"] == "pull"
    directory = kinds(engine)[: len(kinds(engine)) - len(kinds(engine, report_id))]
    assert {"source_registered", "recipient_registered", "key_registered"} <= set(directory)


def test_a_rejected_receipt_a_redrive_a_revocation_and_a_purge_are_recorded(
    quiet: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    accepted(quiet, network)
    [packet] = pull(quiet, network, "nl-police")
    stranger = receipt_for(network, "nl-police", packet)
    assert send_receipts(quiet, network, "nl-section", [stranger]).status_code == 422
    assert kinds(engine)[-1] == "receipt_rejected"
    with Session(engine) as session:
        row = session.exec(
            select(DeliveryRow).where(DeliveryRow.recipient_id == "nl-section")
        ).one()
        row.state, row.dead_at = "dead", clock.now
        session.add(row)
        session.commit()
        dead = row.packet_id
    answer = quiet.post(f"/v1/deliveries/{dead}/retry", headers=network.auth("network-coordinator"))
    assert answer.status_code == 200
    redriven = json.loads(_last_entry(engine).entry)
    assert redriven["kind"] == "delivery_redriven"
    assert redriven["event"]["actor"] == "network-coordinator"
    with Session(engine) as session:
        revoke(session, network.keys("nl-section").public.sealing_key_id, clock.now)
    assert kinds(engine)[-2:] == ["key_revoked", "packet_held"]
    assert send_receipts(quiet, network, "nl-police", [stranger]).status_code == 200
    with Session(engine) as session:
        purged = purge_due(
            session,
            now=clock.now,
            retention=clock.now - clock.now,
            dead_retention=clock.now - clock.now,
        )
    assert purged == 2  # the delivered packet, and the one held after its key was revoked
    assert kinds(engine)[-2:] == ["packet_purged", "packet_purged"]


def _last_entry(engine: Engine) -> AuditEntryRow:
    with Session(engine) as session:
        row = session.exec(
            select(AuditEntryRow).order_by(col(AuditEntryRow.leaf_index).desc())
        ).first()
        assert row is not None
        return row


def test_pushes_retries_dead_letters_and_pushed_receipts_are_recorded(
    settings: Settings, network: Network, engine: Engine, clock: Clock, quiet: TestClient
) -> None:
    with Session(engine) as session:
        set_delivery_mode(
            session,
            "nl-police",
            DeliveryMode.push,
            push_url="http://nl-police.invalid/packets",
            webhook_secret="whsec_" + base64.b64encode(b"0" * 32).decode(),
            webhook_key=load_webhook_key(settings),
            now=clock.now,
        )
        session.commit()
    answers = iter([500, 410])

    def refusing(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers))

    accepted(quiet, network)
    worker = PushWorker(engine, settings, transport=httpx.MockTransport(refusing))
    worker.run_once(clock.now)
    clock.advance(seconds=settings.retry_max_seconds + 1)
    worker.run_once(clock.now)
    worker.close()
    assert kinds(engine)[-2:] == ["push_retry", "delivery_dead"]

    def receipting(request: httpx.Request) -> httpx.Response:
        keys = network.keys("nl-police")
        assert keys.sealing is not None
        opened = open_packet(
            Envelope.model_validate_json(request.content),
            hub_keys=network.hub_trust(),
            private=keys.sealing,
        )
        receipt = sign_receipt(
            packet=opened.body,
            sealed_sha256=opened.sealed_sha256,
            received_at=clock.now,
            key=keys.signing,
        )
        return httpx.Response(200, json={"receipt": receipt.model_dump(mode="json")})

    with Session(engine) as session:
        redrive(session, packet_ids=None, now=clock.now)
    worker = PushWorker(engine, settings, transport=httpx.MockTransport(receipting))
    worker.run_once(clock.now)
    worker.close()
    assert kinds(engine)[-3:] == ["delivery_redriven", "receipt_verified", "packet_pushed"]
    assert json.loads(_last_entry(engine).entry)["event"]["attempt"] == 1


def test_nothing_is_recorded_for_a_change_that_was_rolled_back(
    quiet: TestClient, network: Network, engine: Engine
) -> None:
    body = report_body()
    assert (
        quiet.post("/v1/reports", json=body, headers=network.auth("portal-nl")).status_code == 202
    )
    before = kinds(engine)
    body["incident"]["place"] = "Elsewhere"
    assert (
        quiet.post("/v1/reports", json=body, headers=network.auth("portal-nl")).status_code == 409
    )
    with Session(engine) as session:
        audit.record(
            session, OperatorAction(actor="nobody", role="administrator", action="x"), at=_now()
        )
        session.rollback()
        session.commit()
    assert kinds(engine) == before


def _now() -> datetime:
    return datetime.now(UTC)


def test_concurrent_appends_get_gapless_unique_indices(
    settings: Settings, network: Network, engine: Engine
) -> None:
    def append(worker: int) -> None:
        own = make_engine(settings.resolved_database_url)
        for n in range(15):
            with Session(own) as session:
                for part in range(2):
                    audit.record(
                        session,
                        OperatorAction(
                            actor=f"worker-{worker}",
                            role="administrator",
                            action="test.append",
                            subject=f"{n}.{part}",
                        ),
                        at=_now(),
                    )
                session.commit()
        own.dispose()

    with Session(engine) as session:
        start = audit.tree_size(session)
    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(engine) as session:
        indices = session.exec(
            select(AuditEntryRow.leaf_index).order_by(col(AuditEntryRow.leaf_index))
        ).all()
        assert audit.tree_size(session) == start + 4 * 15 * 2
    assert list(indices) == list(range(start + 120))
    assert sign(engine, settings, _now()).verified


def test_tree_heads_are_signed_and_the_proofs_served_verify(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    coordinator = network.auth("network-coordinator")
    report_id = deliver(quiet, network)
    first = sign(engine, settings, clock.now)
    assert first.verified, first.problems
    head = quiet.get("/v1/audit/tree-head", headers=coordinator).json()
    body = TreeHeadBody.model_validate_json(
        verify_envelope(
            Envelope.model_validate(head["envelope"]), TREE_HEAD_TYPE, network.hub_trust()
        )
    )
    assert (body.tree_size, body.root_hash) == (head["tree_size"], head["root_hash"])
    entries = quiet.get(f"/v1/audit/entries?report_id={report_id}", headers=coordinator).json()
    receipt = next(e for e in entries if e["kind"] == "receipt_verified")
    proof = quiet.get(
        f"/v1/audit/proof/inclusion?leaf_index={receipt['leaf_index']}", headers=coordinator
    ).json()
    merkle.verify_inclusion(
        receipt["leaf_index"],
        body.tree_size,
        merkle.leaf_hash(receipt["entry"].encode()),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(body.root_hash),
    )
    clock.advance(seconds=60)
    deliver(quiet, network, "nl-section")
    second = sign(engine, settings, clock.now)
    assert second.latest is not None
    assert second.latest.tree_size > body.tree_size
    consistency = quiet.get(
        f"/v1/audit/proof/consistency?first={body.tree_size}", headers=coordinator
    ).json()
    merkle.verify_consistency(
        body.tree_size,
        second.latest.tree_size,
        bytes.fromhex(body.root_hash),
        bytes.fromhex(second.latest.root_hash),
        [bytes.fromhex(h) for h in consistency["consistency_path"]],
    )
    check = quiet.get("/v1/audit/verification", headers=coordinator).json()
    assert check["verified"] is True
    assert check["tree_size"] == second.entries
    assert quiet.get("/v1/audit/tree-head", headers=network.auth("nl-police")).status_code == 403


def test_proofs_are_served_only_to_the_size_of_a_signed_tree_head(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    coordinator = network.auth("network-coordinator")
    deliver(quiet, network)
    head = sign(engine, settings, clock.now).latest
    assert head is not None
    deliver(quiet, network, "nl-section")  # the log grows past the signed head
    size = head.tree_size
    for path in (
        f"/v1/audit/proof/inclusion?leaf_index=0&tree_size={size}",
        f"/v1/audit/proof/consistency?first=1&second={size}",
    ):
        answer = quiet.get(path, headers=coordinator)
        assert answer.status_code == 200, answer.text
    for unsigned in (size - 1, size + 1):
        for path in (
            f"/v1/audit/proof/inclusion?leaf_index=0&tree_size={unsigned}",
            f"/v1/audit/proof/consistency?first=1&second={unsigned}",
        ):
            answer = quiet.get(path, headers=coordinator)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["detail"] == (
                f"no signed tree head has {unsigned} entries (GET /v1/audit/tree-heads)"
            )


# Tampering, directly in the database.


@dataclass
class Signed:
    engine: Engine
    settings: Settings
    size: int

    def sql(self, statement: str, **params: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(statement), params)

    def row(self, index: int) -> dict[str, Any]:
        with self.engine.connect() as connection:
            found = connection.execute(
                text("SELECT * FROM audit_entries WHERE leaf_index = :i"), {"i": index}
            ).mappings()
            return dict(next(iter(found)))

    def index_of(self, kind: str, *, nth: int = 0) -> int:
        """The leaf index of the `nth` entry of `kind`; fails if there is no such entry, so a
        renamed kind cannot send a tamper test to some other entry."""
        with Session(self.engine) as session:
            found = session.exec(
                select(AuditEntryRow.leaf_index)
                .where(AuditEntryRow.kind == kind)
                .order_by(col(AuditEntryRow.leaf_index))
            ).all()
        assert len(found) > nth, f"the log has no entry {nth} of kind {kind!r}"
        return found[nth]

    def problems(self) -> list[str]:
        verdict = verify(self.engine, self.settings)
        assert not verdict.verified
        return verdict.problems


@pytest.fixture
def signed(
    quiet: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> Signed:
    """A log with two delivered reports, covered by a signed tree head, that verifies."""
    deliver(quiet, network)
    deliver(quiet, network, "nl-section")
    verdict = sign(engine, settings, clock.now)
    assert verdict.verified, verdict.problems
    assert verdict.warnings == []
    return Signed(engine, settings, verdict.entries)


def test_the_audit_paths_of_several_entries_are_each_the_entry_s_own(signed: Signed) -> None:
    with Session(signed.engine) as session:
        size = signed.size  # proofs are served only to the size of a signed tree head
        wanted = [size - 1, 0, size // 2]
        paths = audit.inclusion_proofs(session, leaf_indices=wanted, size=size)
        assert sorted(paths) == sorted(wanted)
        for index in wanted:
            one = audit.inclusion_proof(session, leaf_index=index, size=size)
            assert paths[index] == one.audit_path
        with pytest.raises(NotFound):
            audit.inclusion_proofs(session, leaf_indices=[0, size], size=size)
        with pytest.raises(NotFound):
            audit.inclusion_proofs(session, leaf_indices=[-1], size=size)


def test_proofs_in_a_signed_tree_ignore_the_entries_written_since_its_head(
    signed: Signed, quiet: TestClient, network: Network
) -> None:
    size = signed.size
    with Session(signed.engine) as session:
        before = audit.inclusion_proof(session, leaf_index=size - 1, size=size)
        prefix = audit.consistency_proof(session, first=1, second=size)
    deliver(quiet, network)  # the log grows past the signed head
    with Session(signed.engine) as session:
        assert audit.tree_size(session) > size
        assert audit.inclusion_proof(session, leaf_index=size - 1, size=size) == before
        assert audit.inclusion_proofs(session, leaf_indices=[size - 1], size=size) == {
            size - 1: before.audit_path
        }
        assert audit.consistency_proof(session, first=1, second=size) == prefix


def test_editing_an_entry_is_detected(signed: Signed) -> None:
    index = signed.index_of("packet_sealed")
    signed.sql(
        "UPDATE audit_entries SET entry = replace(entry, 'nl-police', 'de-police') "
        "WHERE leaf_index = :i",
        i=index,
    )
    problems = signed.problems()
    assert f"entry {index} does not match its leaf hash (changed)" in problems


def test_editing_an_entry_and_its_leaf_hash_together_is_detected(signed: Signed) -> None:
    index = signed.index_of("receipt_verified")
    row = signed.row(index)
    forged = row["entry"].replace('"via":"pull"', '"via":"push"')
    assert forged != row["entry"]
    signed.sql(
        "UPDATE audit_entries SET entry = :e, leaf_hash = :h WHERE leaf_index = :i",
        e=forged,
        h=merkle.leaf_hash(forged.encode()).hex(),
        i=index,
    )
    assert any("no longer have the root" in p for p in signed.problems())


def test_deleting_an_entry_is_detected(signed: Signed) -> None:
    index = signed.index_of("packet_pulled")
    signed.sql("DELETE FROM audit_entries WHERE leaf_index = :i", i=index)
    problems = signed.problems()
    assert f"entry {index} is missing (deleted)" in problems


def test_deleting_the_newest_entries_is_detected(signed: Signed) -> None:
    signed.sql("DELETE FROM audit_entries WHERE leaf_index >= :i", i=signed.size - 3)
    signed.sql("UPDATE audit_log SET size = :s", s=signed.size - 3)
    assert any("entries were deleted" in p for p in signed.problems())


def test_reordering_entries_is_detected(signed: Signed) -> None:
    a, b = signed.index_of("report_routed"), signed.index_of("packet_pulled")
    signed.sql("UPDATE audit_entries SET leaf_index = -1 WHERE leaf_index = :a", a=a)
    signed.sql("UPDATE audit_entries SET leaf_index = :a WHERE leaf_index = :b", a=a, b=b)
    signed.sql("UPDATE audit_entries SET leaf_index = :b WHERE leaf_index = -1", b=b)
    problems = signed.problems()
    assert f"entry {a} says it is entry {b} (moved or inserted)" in problems
    assert any("no longer have the root" in p for p in problems)


def test_inserting_an_entry_is_detected(signed: Signed) -> None:
    at = signed.index_of("packet_pulled")
    signed.sql(
        "UPDATE audit_entries SET leaf_index = leaf_index + 100000 WHERE leaf_index >= :i", i=at
    )
    signed.sql(
        "UPDATE audit_entries SET leaf_index = leaf_index - 99999 WHERE leaf_index >= 100000"
    )
    model = signed.row(at + 1)
    signed.sql(
        "INSERT INTO audit_entries (leaf_index, at, kind, report_id, recipient_id, entry, "
        "leaf_hash) VALUES (:i, :at, :k, :r, :p, :e, :h)",
        i=at,
        at=model["at"],
        k=model["kind"],
        r=model["report_id"],
        p=model["recipient_id"],
        e=model["entry"],
        h=model["leaf_hash"],
    )
    problems = signed.problems()
    assert any("says it is entry" in p for p in problems)
    assert any("no longer have the root" in p for p in problems)


def test_a_forged_receipt_appended_after_the_tree_head_is_detected(
    signed: Signed, network: Network
) -> None:
    index = signed.index_of("receipt_verified")
    original = json.loads(signed.row(index)["entry"])
    receipt = Envelope.model_validate(original["event"]["receipt"])
    body = json.loads(base64.b64decode(receipt.payload))
    body["received_at"] = "2026-01-01T00:00:00Z"
    payload = json.dumps(body).encode()
    forged_receipt = receipt.model_copy(
        update={"payload": base64.b64encode(payload).decode()}
    ).model_dump(mode="json")
    entry = dict(original, index=signed.size)
    entry["event"] = dict(original["event"], receipt=forged_receipt)
    text_entry = bytes(rfc8785.dumps(entry)).decode()  # canonical, as the hub writes entries
    signed.sql(
        "INSERT INTO audit_entries (leaf_index, at, kind, report_id, recipient_id, entry, "
        "leaf_hash) SELECT :i, at, kind, report_id, recipient_id, :e, :h FROM audit_entries "
        "WHERE leaf_index = :j",
        i=signed.size,
        j=index,
        e=text_entry,
        h=merkle.leaf_hash(text_entry.encode()).hex(),
    )
    problems = signed.problems()
    assert any("does not verify with a receipt key of nl-police" in p for p in problems)


def test_changing_a_signed_tree_head_is_detected(signed: Signed) -> None:
    signed.sql("UPDATE audit_tree_heads SET root_hash = :r", r="00" * 32)
    assert any("differs from what was signed" in p for p in signed.problems())
    signed.sql("UPDATE audit_tree_heads SET envelope = replace(envelope, 'ed25519', 'ed25519')")
    with signed.engine.connect() as connection:
        envelope = json.loads(
            connection.execute(text("SELECT envelope FROM audit_tree_heads")).scalar_one()
        )
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["tree_size"] -= 1
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    signed.sql("UPDATE audit_tree_heads SET envelope = :e", e=json.dumps(envelope))
    assert any("not signed by a trusted hub key" in p for p in signed.problems())


def test_a_rewritten_log_is_caught_by_the_tree_head_seen_before(signed: Signed) -> None:
    seen = verify(signed.engine, signed.settings).latest
    assert seen is not None
    index = signed.index_of("report_routed")
    row = signed.row(index)
    forged = row["entry"].replace("nl-section", "de-section")
    signed.sql("DELETE FROM audit_tree_heads")
    signed.sql(
        "UPDATE audit_entries SET entry = :e, leaf_hash = :h WHERE leaf_index = :i",
        e=forged,
        h=merkle.leaf_hash(forged.encode()).hex(),
        i=index,
    )
    assert verify(signed.engine, signed.settings).verified  # nothing signed says otherwise...
    problems = verify(signed.engine, signed.settings, last_seen=seen).problems
    assert any("the tree head this verifier saw before" in p for p in problems)  # ...but this


def grow(engine: Engine, clock: Clock, count: int = 1) -> None:
    with Session(engine) as session:
        for number in range(count):
            action = OperatorAction(actor="x", role="administrator", action="grow" + "." * number)
            audit.record(session, action, at=clock.now)
        session.commit()


def stored_root(engine: Engine) -> str:
    with Session(engine) as session:
        leaves = session.exec(
            select(AuditEntryRow.leaf_hash).order_by(col(AuditEntryRow.leaf_index))
        ).all()
    return merkle.root([bytes.fromhex(h) for h in leaves]).hex()


def test_a_head_signed_from_the_last_head_s_frontier_is_the_head_of_every_entry(
    signed: Signed, clock: Clock
) -> None:
    secrets, _ = load_hub_secrets(signed.settings)
    for count in (1, 2, 5, 8):
        grow(signed.engine, clock, count)
        sign_round(signed.engine, key=secrets.signing_key, now=clock.now)
        with Session(signed.engine) as session:
            head = audit.latest_tree_head(session)
        assert head is not None
        assert head.root_hash == stored_root(signed.engine)
    assert verify(signed.engine, signed.settings).verified


def test_a_head_signed_before_frontiers_were_kept_is_extended_from_every_entry(
    signed: Signed, clock: Clock
) -> None:
    signed.sql("UPDATE audit_tree_heads SET frontier = NULL")
    grow(signed.engine, clock, 3)
    secrets, _ = load_hub_secrets(signed.settings)
    sign_round(signed.engine, key=secrets.signing_key, now=clock.now)
    with Session(signed.engine) as session:
        head = audit.latest_tree_head(session)
    assert head is not None
    assert (head.tree_size, head.root_hash) == (signed.size + 3, stored_root(signed.engine))


def test_an_entry_changed_behind_the_hub_s_back_is_never_signed_over(
    signed: Signed, clock: Clock
) -> None:
    signed.sql("UPDATE audit_entries SET entry = replace(entry, 'pull', 'push')")
    grow(signed.engine, clock)
    verdict = sign(signed.engine, signed.settings, clock.now)
    assert not verdict.verified  # the full check finds the change
    with Session(signed.engine) as session:
        head = audit.latest_tree_head(session)
        check = audit.last_check(session)
        changed = session.exec(select(AuditEntryRow).where(AuditEntryRow.leaf_index < signed.size))
        assert any(merkle.leaf_hash(r.entry.encode()).hex() != r.leaf_hash for r in changed)
    assert check is not None
    assert not check.verified
    # The new head extends the one signed before the change: it commits to the entries as they
    # were, whose leaf hashes no longer match the changed bytes.
    assert head is not None
    assert (head.tree_size, head.root_hash) == (signed.size + 1, stored_root(signed.engine))


def test_the_hub_refuses_to_sign_over_a_changed_new_entry(signed: Signed, clock: Clock) -> None:
    grow(signed.engine, clock)
    signed.sql("UPDATE audit_entries SET entry = replace(entry, 'grow', 'grew') "
               "WHERE leaf_index = :i", i=signed.size)  # fmt: skip
    verdict = sign(signed.engine, signed.settings, clock.now)
    assert not verdict.verified
    with Session(signed.engine) as session:
        head = audit.latest_tree_head(session)
    assert head is not None
    assert head.tree_size == signed.size  # no new head over the change


# The command


@pytest.fixture
def operator(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    return CliRunner()


def test_hub_audit_verify_prints_a_clear_verdict(
    signed: Signed, operator: CliRunner, tmp_path: Path, network: Network
) -> None:
    good = operator.invoke(cli, ["audit", "verify"])
    assert good.exit_code == 0, good.output
    assert "VERDICT: VERIFIED" in good.output
    exported = tmp_path / "audit.json"
    assert operator.invoke(cli, ["audit", "export", "--out", str(exported)]).exit_code == 0
    hub_key = network.listing_path.parent / "hub.pub.json"
    offline = operator.invoke(cli, ["audit", "verify", str(exported), "--hub-key", str(hub_key)])
    assert offline.exit_code == 0, offline.output
    signed.sql("DELETE FROM audit_entries WHERE leaf_index = 3")
    bad = operator.invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "VERDICT: FAILED" in bad.output
    assert "entry 3 is missing (deleted)" in bad.output
    still = operator.invoke(cli, ["audit", "verify", str(exported), "--hub-key", str(hub_key)])
    assert still.exit_code == 0  # the export was taken before: it still proves itself


def test_hub_audit_verify_checks_a_live_hub_and_remembers_its_tree_head(
    live_hub: LiveHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = live_hub.network
    monkeypatch.setenv("HUB_DATA_DIR", str(live_hub.settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", live_hub.settings.resolved_database_url)
    httpx.post(
        f"{live_hub.url}/v1/reports", json=report_body(), headers=network.auth("portal-nl")
    ).raise_for_status()
    pull_until_empty(load_config(network.connector_config("nl-police")))
    engine = make_engine(live_hub.settings.resolved_database_url)
    sign(engine, live_hub.settings, _now())
    command = [
        "audit", "verify", "--url", live_hub.url,
        "--token-file", network.entry("network-coordinator")["credential_file"],
        "--hub-key", str(network.listing_path.parent / "hub.pub.json"),
        "--state", str(tmp_path / "seen.json"),
    ]  # fmt: skip
    first = CliRunner().invoke(cli, command)
    assert first.exit_code == 0, first.output
    assert "VERDICT: VERIFIED" in first.output
    assert "checked 1 receipts" in first.output
    seen = json.loads((tmp_path / "seen.json").read_text())
    pull_until_empty(load_config(network.connector_config("nl-section")))
    sign(engine, live_hub.settings, _now())
    second = CliRunner().invoke(cli, command)
    assert second.exit_code == 0, second.output
    assert json.loads((tmp_path / "seen.json").read_text())["tree_size"] > seen["tree_size"]
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET entry = replace(entry, 'pull', 'push')"))
    third = CliRunner().invoke(cli, command)
    assert third.exit_code == 1
    assert "does not match its leaf hash" in third.output
    engine.dispose()


def test_events_name_no_field_that_could_hold_report_content() -> None:
    allowed = {
        "report_id", "packet_id", "recipient_id", "source_id", "key_id", "revoked_key_id",
        "previous_key_id", "recipient_key_id", "hub_key_id", "acknowledgement_key_id", "purpose",
        "public_key", "valid_from", "country", "recipient_kind", "delivery_mode", "recipients",
        "sealed_sha256", "acknowledgement_sha256", "lease_until", "attempt", "attempts", "error",
        "next_attempt_at", "via", "receipt", "reason", "actor", "state", "outcome", "receipts",
        "outcomes", "criterion", "stated_on", "holds", "evidence_url", "declared_by", "role",
        "action", "subject", "credential_id", "principal_id", "change", "ends_at", "count",
        "forward_id", "from_recipient_id", "forwarder_key_id", "forward_sha256", "deleted_at",
        "profile_code", "profile_sha256", "languages", "timezone", "calendar",
        "procedures", "first", "copy_other",
        "decision_id", "decision", "classification", "reason_code", "decided_at",
    }  # fmt: skip
    for kind, model in EVENT_KINDS.items():
        assert set(model.model_fields) <= allowed, kind
    assert set(CountryProcedure.model_fields) <= allowed


def test_the_event_table_of_docs_audit_lists_every_kind_of_event_and_no_other() -> None:
    text = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    table = text[text.index("| kind | when | holds |") :].split("\n\n", 1)[0]
    named = [
        name
        for row in table.splitlines()[2:]
        for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])
    ]
    assert sorted(named) == sorted(EVENT_KINDS)


def test_packet_bodies_are_never_in_the_log(signed: Signed) -> None:
    with Session(signed.engine) as session:
        sealed = [
            PacketBody.model_validate_json(
                base64.b64decode(Envelope.model_validate_json(row.packet).payload)
            ).sealed
            for row in session.exec(select(DeliveryRow)).all()
            if row.packet
        ]
        log_text = "".join(session.exec(select(AuditEntryRow.entry)).all())
    assert sealed
    assert all(s[:40] not in log_text for s in sealed)


def test_a_database_upgraded_to_the_audit_log_starts_it_with_its_directory(
    empty_database_url: str, settings: Settings
) -> None:
    config = alembic_config(empty_database_url)
    mine = next(
        r
        for r in ScriptDirectory.from_config(config).walk_revisions()
        if r.doc.startswith("audit log")
    )
    command.upgrade(config, str(mine.down_revision))
    engine = make_engine(empty_database_url)
    key = base64.b64decode("3ZygDvJu7eAxNITyHBYjBJdc7DVUEi1pEJDFZGaiE7I=")
    when = datetime(2026, 10, 1, tzinfo=UTC)
    with engine.begin() as connection:
        for statement, params in (
            ("INSERT INTO sources (id, name, country, created_at) "
             "VALUES ('portal-at', 'AT', 'AT', :t)", {}),
            ("INSERT INTO recipients (id, name, country, kind, delivery_mode, created_at) "
             "VALUES ('at-police', 'AT police', 'AT', 'police', 'pull', :t)", {}),
            ("INSERT INTO recipient_keys (key_id, recipient_id, purpose, public_key, valid_from, "
             "revoked_at) VALUES (:k, 'at-police', 'receipt', :p, :t, :t)",
             {"k": fingerprint("ed25519", key), "p": key}),
        ):  # fmt: skip
            connection.execute(text(statement), {"t": when, **params})
    command.upgrade(config, "head")
    assert kinds(engine) == [
        "source_registered",
        "recipient_registered",
        "key_registered",
        "key_revoked",
    ]
    with Session(engine) as session:
        assert audit.tree_size(session) == 4
        verdict = verify_stored(session, published_keys(settings))
    assert verdict.verified, verdict.problems
    engine.dispose()


def test_a_report_s_entries_are_its_own_even_where_another_source_chose_the_same_id(
    quiet: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    first = report_body("portal-nl")
    second = report_body("portal-at", nationalities=("AT",))
    second["report_id"] = first["report_id"]  # two portals chose one id (docs/protocol.md §4)
    for body in (first, second):
        party = str(body["source"])
        assert quiet.post("/v1/reports", json=body, headers=network.auth(party)).status_code == 202
    with Session(engine) as session:
        keys = {r.source_id: r.id for r in session.exec(select(ReportRow)).all()}
        assert keys["portal-nl"] == first["report_id"] != keys["portal-at"]
        legacy = ReportRouted(report_id=keys["portal-at"], source_id=None, recipients=[])
        audit.record(session, legacy, at=clock.now)  # written before ids were per source
        session.commit()
    with Session(engine) as session:
        sources = {key: source for source, key in keys.items()}

        def source_of(entry: audit.AuditEntry) -> str | None:
            named = json.loads(entry.entry)["event"].get("source_id")
            if entry.kind == "report_routed" and named is not None:
                return str(named)  # the routing entry names the report as its source does
            return sources.get(str(entry.report_id))

        every = audit.entries(session, limit=10**6)
        for source, key in keys.items():
            own = [e for e in every if source_of(e) == source]
            assert [e.kind for e in own][:2] == ["report_routed", "report_accepted"]
            assert audit.entries(session, report_id=key) == own
            assert audit.entries(session, report_id=key, newest_first=True) == own[::-1]
            assert audit.entries(session, report_id=key, limit=2) == own[:2]
        assert audit.entries(session, report_id=str(uuid4())) == []


# Reading the log back


def record_each(engine: Engine, clock: Clock, *events: AuditEvent) -> None:
    """Append `events` in one transaction, a second apart."""
    with Session(engine) as session:
        for number, audit_event in enumerate(events):
            audit.record(session, audit_event, at=clock.now + timedelta(seconds=number))
        session.commit()


def action(number: int) -> OperatorAction:
    return OperatorAction(actor="x", role="administrator", action="read", subject=str(number))


def test_entries_are_read_from_a_leaf_on_oldest_or_newest_first_up_to_the_limit(
    engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        before = audit.tree_size(session)
    superseded = PacketSuperseded(
        report_id=str(uuid4()), packet_id=str(uuid4()), recipient_id="nl-police"
    )
    record_each(engine, clock, *(action(n) for n in range(4)), superseded)
    size = before + 5
    with Session(engine) as session:
        every = audit.entries(session)
        assert [e.leaf_index for e in every] == list(range(size))
        assert [e.leaf_index for e in audit.entries(session, start=before + 2)] == [
            before + 2,
            before + 3,
            before + 4,
        ]
        assert [e.leaf_index for e in audit.entries(session, start=before + 1, limit=2)] == [
            before + 1,
            before + 2,
        ]
        newest = audit.entries(session, newest_first=True, limit=2)
        assert [e.leaf_index for e in newest] == [size - 1, size - 2]
        assert audit.entries(session, start=size) == []
        rows = {r.leaf_index: r for r in session.exec(select(AuditEntryRow)).all()}
    for served in every:
        stored = rows[served.leaf_index]
        assert (
            served.model_dump()
            == audit.AuditEntry.model_validate(stored, from_attributes=True).model_dump()
        )
        assert served.leaf_hash == merkle.leaf_hash(served.entry.encode()).hex()
        assert json.loads(served.entry)["index"] == served.leaf_index
    last = every[-1]
    assert (last.kind, last.report_id, last.recipient_id) == (
        "packet_superseded",
        superseded.report_id,
        "nl-police",
    )
    assert last.at == clock.now + timedelta(seconds=4)


def test_a_page_of_entries_holds_a_thousand_unless_asked_for_another_number(
    engine: Engine, clock: Clock
) -> None:
    record_each(engine, clock, *(action(n) for n in range(1001)))
    with Session(engine) as session:
        assert len(audit.entries(session)) == 1000
        assert len(audit.entries(session, limit=1001)) == 1001


def test_the_newest_entry_of_a_kind_is_found_among_entries_of_other_kinds(
    engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        assert audit.last_of_kind(session, "operator_action") is None
    changed = DeliveryModeChanged(recipient_id="nl-police", delivery_mode="pull")
    record_each(engine, clock, action(0), action(1), changed)
    with Session(engine) as session:
        size = audit.tree_size(session)
        newest = audit.last_of_kind(session, "operator_action")
        assert newest is not None
        assert newest == audit.entries(session, start=size - 2, limit=1)[0]
        assert json.loads(newest.entry)["event"]["subject"] == "1"
        other = audit.last_of_kind(session, "delivery_mode_changed")
        assert other is not None
        assert (other.leaf_index, other.recipient_id) == (size - 1, "nl-police")
        assert audit.last_of_kind(session, "key_revoked") is None


def test_the_last_check_is_the_latest_by_its_time_and_then_the_last_recorded(
    engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        assert audit.last_check(session) is None
        failed = audit.AuditCheck(
            checked_at=clock.now,
            checked_by="hub",
            tree_size=7,
            verified=False,
            problems=["entry 3 is missing (deleted)", "the tree of 7 no longer has the root"],
        )
        audit.record_check(session, failed)
        earlier = audit.AuditCheck(
            checked_at=clock.now - timedelta(minutes=1),
            checked_by="coordinator",
            tree_size=6,
            verified=True,
            problems=[],
        )
        audit.record_check(session, earlier)  # recorded last, but of an earlier time
        assert audit.last_check(session) == failed
        again = failed.model_copy(update={"tree_size": 8, "verified": True, "problems": []})
        audit.record_check(session, again)  # the same instant: the one recorded last
        assert audit.last_check(session) == again


def test_tree_heads_are_listed_smallest_first_from_a_size_on_up_to_the_limit(
    engine: Engine, settings: Settings, clock: Clock, hub_public: PublicKeySet
) -> None:
    grow(engine, clock)
    with Session(engine) as session:  # nothing signed yet: no head, and no proof
        assert audit.latest_tree_head(session) is None
        assert audit.tree_heads(session) == []
        with pytest.raises(NotFound, match="not signed a tree head yet"):
            audit.inclusion_proof(session, leaf_index=0)
        with pytest.raises(NotFound, match="not signed a tree head yet"):
            audit.consistency_proof(session, first=0)
    secrets, _ = load_hub_secrets(settings)
    sizes = []
    for count in (1, 2, 3):
        grow(engine, clock, count)
        clock.advance(seconds=1)
        with Session(engine, expire_on_commit=False) as session:
            head = audit.sign_tree_head(session, key=secrets.signing_key, now=clock.now)
        assert head is not None
        sizes.append(head.tree_size)
    with Session(engine) as session:
        every = audit.tree_heads(session)
        assert [h.tree_size for h in every] == sizes
        assert [h.tree_size for h in audit.tree_heads(session, after=sizes[0])] == sizes[1:]
        assert [h.tree_size for h in audit.tree_heads(session, after=sizes[0] - 1)] == sizes
        assert [h.tree_size for h in audit.tree_heads(session, limit=2)] == sizes[:2]
        assert audit.tree_heads(session, after=sizes[-1]) == []
        assert every[-1] == audit.latest_tree_head(session)
    for head in every:
        body = TreeHeadBody.model_validate_json(
            verify_envelope(
                head.envelope, TREE_HEAD_TYPE, {hub_public.signing_key_id: hub_public.signing}
            )
        )
        assert (body.tree_size, body.root_hash, body.timestamp) == (
            head.tree_size,
            head.root_hash,
            head.timestamp,
        )


# Signing


def test_the_size_signed_is_kept_beside_the_key_and_a_log_rolled_back_behind_it_is_not_signed(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    secrets, _ = load_hub_secrets(settings)
    kept = settings.signed_head_file
    grow(engine, clock, 3)
    with Session(engine, expire_on_commit=False) as session:
        head = audit.sign_tree_head(
            session, key=secrets.signing_key, now=clock.now, high_water=kept
        )
    assert head is not None
    assert signed_size(kept) == head.tree_size
    with engine.begin() as connection:  # a backup taken before the newest two entries
        connection.execute(
            text("DELETE FROM audit_entries WHERE leaf_index >= :i"), {"i": head.tree_size - 2}
        )
        connection.execute(text("UPDATE audit_log SET size = :s"), {"s": head.tree_size - 2})
        connection.execute(text("DELETE FROM audit_tree_heads"))
    grow(engine, clock)
    with Session(engine) as session, pytest.raises(ProofInvalid, match="restored"):
        audit.sign_tree_head(session, key=secrets.signing_key, now=clock.now, high_water=kept)
    with Session(engine) as session:
        assert audit.latest_tree_head(session) is None
    assert signed_size(kept) == head.tree_size
    grow(engine, clock, 2)  # the log is as large as the head signed before: signing goes on
    with Session(engine, expire_on_commit=False) as session:
        again = audit.sign_tree_head(
            session, key=secrets.signing_key, now=clock.now, high_water=kept
        )
    assert again is not None
    assert again.tree_size == head.tree_size + 1
    assert signed_size(kept) == again.tree_size


def test_with_nothing_new_since_the_last_head_nothing_is_read_or_signed(
    signed: Signed, clock: Clock
) -> None:
    with Session(signed.engine) as session:
        before = audit.latest_tree_head(session)
    # Damage that only reading the entries again would find: the full check's work, not this.
    signed.sql("UPDATE audit_tree_heads SET frontier = NULL")
    signed.sql("UPDATE audit_entries SET entry = replace(entry, 'pull', 'push')")
    secrets, _ = load_hub_secrets(signed.settings)
    clock.advance(seconds=60)
    with Session(signed.engine) as session:
        assert audit.sign_tree_head(session, key=secrets.signing_key, now=clock.now) is None
        assert audit.latest_tree_head(session) == before


def test_proofs_in_an_older_signed_tree_are_that_tree_s_and_not_the_newest_s(
    signed: Signed, clock: Clock
) -> None:
    old = signed.size
    grow(signed.engine, clock, 3)
    secrets, _ = load_hub_secrets(signed.settings)
    sign_round(signed.engine, key=secrets.signing_key, now=clock.now)
    with Session(signed.engine) as session:
        heads = {h.tree_size: h for h in audit.tree_heads(session)}
        assert sorted(heads)[-2:] == [old, old + 3]
        in_old = audit.inclusion_proof(session, leaf_index=old - 1, size=old)
        in_new = audit.inclusion_proof(session, leaf_index=old - 1)
        several = audit.inclusion_proofs(session, leaf_indices=[old - 1], size=old)
        prefix = audit.consistency_proof(session, first=1, second=old)
        newest = audit.consistency_proof(session, first=1)
    assert (in_old.tree_size, in_new.tree_size) == (old, old + 3)
    assert several == {old - 1: in_old.audit_path}
    assert in_old.audit_path != in_new.audit_path
    for proof in (in_old, in_new):
        assert proof.root_hash == heads[proof.tree_size].root_hash
        merkle.verify_inclusion(
            proof.leaf_index,
            proof.tree_size,
            bytes.fromhex(proof.leaf_hash),
            [bytes.fromhex(h) for h in proof.audit_path],
            bytes.fromhex(proof.root_hash),
        )
    assert (prefix.second, newest.second) == (old, old + 3)
    assert prefix.second_root == heads[old].root_hash
    assert newest.second_root == heads[old + 3].root_hash


def test_a_proof_is_served_for_every_entry_and_prefix_of_a_signed_tree_and_no_other(
    signed: Signed,
) -> None:
    size = signed.size
    with Session(signed.engine) as session:
        first = audit.inclusion_proof(session, leaf_index=0, size=size)
        last = audit.inclusion_proof(session, leaf_index=size - 1, size=size)
        assert (first.leaf_index, last.leaf_index) == (0, size - 1)
        for outside in (-1, size):
            with pytest.raises(NotFound, match=f"no entry {outside} in a tree of {size}"):
                audit.inclusion_proof(session, leaf_index=outside, size=size)
        empty = audit.consistency_proof(session, first=0, second=size)
        whole = audit.consistency_proof(session, first=size, second=size)
        assert (empty.first, empty.consistency_path) == (0, [])
        assert empty.first_root == merkle.root([]).hex()
        assert (whole.first, whole.consistency_path) == (size, [])
        assert whole.first_root == whole.second_root == last.root_hash
        for outside in (-1, size + 1):
            with pytest.raises(NotFound, match=f"no tree of {outside} inside a tree of {size}"):
                audit.consistency_proof(session, first=outside, second=size)


def test_the_head_of_an_empty_log_proves_the_empty_prefix(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    secrets, _ = load_hub_secrets(settings)
    with Session(engine, expire_on_commit=False) as session:
        assert audit.tree_size(session) == 0
        head = audit.sign_tree_head(session, key=secrets.signing_key, now=clock.now)
    assert head is not None
    assert (head.tree_size, head.root_hash) == (0, merkle.root([]).hex())
    with Session(engine) as session:
        proof = audit.consistency_proof(session, first=0, second=0)
        assert (proof.first, proof.second, proof.consistency_path) == (0, 0, [])
        assert proof.first_root == proof.second_root == head.root_hash
        assert audit.inclusion_proofs(session, leaf_indices=[], size=0) == {}
        with pytest.raises(NotFound, match="no entry 0 in a tree of 0"):
            audit.inclusion_proof(session, leaf_index=0, size=0)


def test_a_head_covers_the_log_s_size_and_not_an_entry_stored_beyond_it(
    signed: Signed, clock: Clock
) -> None:
    grow(signed.engine, clock, 2)
    model = signed.row(signed.size + 1)
    stray = model["entry"].replace(f'"index":{signed.size + 1}', f'"index":{signed.size + 2}')
    signed.sql(  # an entry written behind the hub's back, past the log's size row
        "INSERT INTO audit_entries (leaf_index, at, kind, report_id, recipient_id, entry, "
        "leaf_hash) VALUES (:i, :at, :k, NULL, NULL, :e, :h)",
        i=signed.size + 2,
        at=model["at"],
        k=model["kind"],
        e=stray,
        h=merkle.leaf_hash(stray.encode()).hex(),
    )
    secrets, _ = load_hub_secrets(signed.settings)
    with Session(signed.engine, expire_on_commit=False) as session:
        head = audit.sign_tree_head(session, key=secrets.signing_key, now=clock.now)
        leaves = session.exec(
            select(AuditEntryRow.leaf_hash)
            .where(AuditEntryRow.leaf_index < signed.size + 2)
            .order_by(col(AuditEntryRow.leaf_index))
        ).all()
    assert head is not None
    assert head.tree_size == signed.size + 2
    assert head.root_hash == merkle.root([bytes.fromhex(h) for h in leaves]).hex()


def test_an_entry_appended_at_once_comes_after_those_recorded_earlier_in_its_session(
    engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        before = audit.tree_size(session)
        audit.record(session, action(0), at=clock.now)
        audit.record(session, action(1), at=clock.now)
        index, leaf = audit.record_now(session, action(2), at=clock.now)
        assert audit.tree_size(session) == before + 3  # appended, not yet committed
        session.commit()
    assert index == before + 2
    with Session(engine) as session:
        written = audit.entries(session, start=before)
    assert [json.loads(e.entry)["event"]["subject"] for e in written] == ["0", "1", "2"]
    assert (written[-1].leaf_index, written[-1].leaf_hash) == (index, leaf)
