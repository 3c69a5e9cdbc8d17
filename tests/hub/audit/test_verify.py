"""The live verifier (`fetch_live`): it reads every page of a hub's entries and tree heads, checks
the hub's proofs from the tree head it saw before, and names each proof the hub serves that does
not verify. A hub that lies is a real HTTP server on loopback in front of the real hub, relaying
every request and altering one kind of answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey
from sqlalchemy import Engine, text
from sqlmodel import Session
from structlog.testing import capture_logs

from hub import merkle
from hub.audit import log as audit
from hub.audit.entry import entry_bytes
from hub.audit.events import (
    AuditEvent,
    KeyRevoked,
    OperatorAction,
    PacketSealed,
    ReceiptVerified,
)
from hub.audit.high_water import signed_size
from hub.audit.log import AuditCheck, AuditEntry, SignedTreeHead
from hub.audit.verify import (
    AuditVerdict,
    audit_round,
    export_log,
    fetch_live,
    format_verdict,
    rolled_back,
    sign_round,
    trusted_hub_keys,
    verify_log,
    verify_stored,
)
from hub.crypto import canonical_json, sign_envelope
from hub.delivery.rotation import revoke
from hub.errors import ConfigurationError
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import load_hub_secrets, published_keys
from hub.settings import Settings
from hub.store import TreeHeadRow
from keys import generate_keyset
from schemas.envelope import (
    RECEIPT_TYPE,
    TREE_HEAD_TYPE,
    Envelope,
    PublishedHubKeys,
    ReceiptBody,
    TreeHeadBody,
)
from tests.conftest import Clock, LiveHub, Network, provision
from tests.factories import report_body
from tests.hub.audit.test_audit import grow
from tests.hub.delivery.test_delivery import receipt_for

PAGE = 1000  # the most entries or tree heads the hub answers at once (docs/audit.md, "Paging")


@pytest.fixture
def hub(settings: Settings, engine: Engine, clock: Clock, tmp_path: Path) -> Iterator[LiveHub]:
    """The hub over real HTTP on loopback, without its background jobs (the test alone signs),
    its first tree head signed over its empty log as a new hub's first round does."""
    quiet = settings.model_copy(update={"scheduler": False})
    sign(engine, quiet, clock)
    with serving(create_app(quiet, clock=clock)) as url:
        network = provision(quiet, tmp_path / "parties", url, now=clock.now)
        yield LiveHub(url=url, settings=quiet, network=network)


def sign(engine: Engine, settings: Settings, clock: Clock) -> SignedTreeHead:
    key = load_hub_secrets(settings)[0].signing_key
    with Session(engine) as session:
        head = audit.sign_tree_head(session, key=key, now=clock.now)
    assert head is not None, "the log did not grow since the last tree head"
    clock.advance(seconds=1)
    return head


def sign_each(engine: Engine, settings: Settings, clock: Clock, count: int) -> None:
    """`count` new entries and a tree head signed over each new size, as `sign_tree_head` signs
    one (its body, its envelope, its frontier), in one transaction: `sign_tree_head` reads every
    earlier head each time it signs, too slow to call a thousand times here."""
    key = load_hub_secrets(settings)[0].signing_key
    with Session(engine) as session:
        for number in range(count):
            grown = OperatorAction(
                actor="x", role="administrator", action="grow", subject=f"{number}"
            )
            audit.record(session, grown, at=clock.now)
        session.commit()
        leaves = [bytes.fromhex(e.leaf_hash) for e in audit.entries(session, limit=10**9)]
        frontier = merkle.Frontier()
        for leaf in leaves[: len(leaves) - count]:
            frontier.append(leaf)
        for leaf in leaves[len(leaves) - count :]:
            frontier.append(leaf)
            root = frontier.root().hex()
            body = TreeHeadBody(tree_size=frontier.size, root_hash=root, timestamp=clock.now)
            session.add(
                TreeHeadRow(
                    tree_size=frontier.size,
                    root_hash=root,
                    signed_at=clock.now,
                    envelope=sign_envelope(TREE_HEAD_TYPE, body, key).model_dump_json(),
                    frontier=json.dumps(frontier.hashes()),
                )
            )
            clock.advance(seconds=1)
        session.commit()


@contextmanager
def coordinator(url: str, hub: LiveHub) -> Iterator[httpx.Client]:
    """A client of the hub at `url` as the verifier makes one: base URL and coordinator token."""
    headers = hub.network.auth("network-coordinator")
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        yield client


Lie = Callable[[httpx.Response], Response]


@contextmanager
def lying(hub: LiveHub, path: str, lie: Lie) -> Iterator[httpx.Client]:
    """A coordinator's client of a hub in front of `hub`: it relays every request to the real hub
    and answers `path` with `lie` of the real hub's answer."""
    app = FastAPI()

    @app.get("/{route:path}")
    def relay(route: str, request: Request) -> Response:
        answer = httpx.get(
            f"{hub.url}/{route}",
            params=list(request.query_params.multi_items()),
            headers={"Authorization": request.headers.get("Authorization", "")},
        )
        if f"/{route}" == path and answer.status_code == 200:
            return lie(answer)
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
        )

    with serving(app) as url, coordinator(url, hub) as client:
        yield client


def flipped(digest: str) -> str:
    """The hash with its last hex digit changed."""
    return digest[:-1] + ("1" if digest[-1] == "0" else "0")


def one_hash_changed(member: str) -> Lie:
    def lie(answer: httpx.Response) -> Response:
        proof = answer.json()
        if proof[member]:  # an empty path (from the empty tree) has no hash to change
            proof[member][0] = flipped(proof[member][0])
        return JSONResponse(proof)

    return lie


def submit(hub: LiveHub) -> None:
    body = report_body()
    answer = httpx.post(
        f"{hub.url}/v1/reports", json=body, headers=hub.network.auth(body["source"])
    )
    assert answer.status_code == 202, answer.text


def pull(hub: LiveHub, recipient: str = "nl-police") -> list[Envelope]:
    answer = httpx.get(f"{hub.url}/v1/inbox", headers=hub.network.auth(recipient))
    assert answer.status_code == 200, answer.text
    return [Envelope.model_validate(p) for p in answer.json()["packets"]]


def send_receipts(hub: LiveHub, packets: list[Envelope], recipient: str = "nl-police") -> None:
    receipts = [receipt_for(hub.network, recipient, p) for p in packets]
    answer = httpx.post(
        f"{hub.url}/v1/receipts",
        json={"receipts": receipts},
        headers=hub.network.auth(recipient),
    )
    assert answer.status_code == 200, answer.text


def deliver(hub: LiveHub) -> None:
    """A report submitted, pulled by nl-police and receipted: one receipt in the log."""
    submit(hub)
    send_receipts(hub, pull(hub))


def receipts(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT leaf_index FROM audit_entries WHERE kind = 'receipt_verified' "
                "ORDER BY leaf_index"
            )
        )
        return [index for (index,) in found]


def rewrite(engine: Engine) -> None:
    """What an operator who rewrites the log does: change an old entry together with its leaf
    hash, and delete every tree head that would give it away."""
    with engine.begin() as connection:
        index, entry = connection.execute(
            text(
                "SELECT leaf_index, entry FROM audit_entries WHERE entry LIKE '%nl-police%' "
                "ORDER BY leaf_index LIMIT 1"
            )
        ).one()
        forged = entry.replace("nl-police", "de-police")
        connection.execute(
            text("UPDATE audit_entries SET entry = :e, leaf_hash = :h WHERE leaf_index = :i"),
            {"e": forged, "h": merkle.leaf_hash(forged.encode()).hex(), "i": index},
        )
        connection.execute(text("DELETE FROM audit_tree_heads"))


# Paging


def test_the_live_verifier_reads_every_page_of_a_log_longer_than_one_page(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    sign_each(engine, hub.settings, clock, PAGE)  # more entries and more heads than a page
    with Session(engine) as session:
        stored = audit.tree_heads(session, limit=10 * PAGE)
        size = audit.tree_size(session)
    assert len(stored) > PAGE
    assert stored[0].tree_size <= 1  # the first page starts below every head there is
    newest = stored[-1]
    with coordinator(hub.url, hub) as client:
        live = fetch_live(client, last_seen=newest)  # nothing to prove since: no proofs asked
    assert [e.leaf_index for e in live.entries] == list(range(size))
    assert [h.tree_size for h in live.heads] == [h.tree_size for h in stored]
    assert live.heads == stored
    assert live.proof_problems == []
    trusted = trusted_hub_keys(live.published, hub.network.hub_trust())
    verdict = verify_log(live.entries, live.heads, live.published, trusted, last_seen=newest)
    assert verdict.verified, verdict.problems
    assert (verdict.entries, verdict.tree_heads_checked) == (size, len(stored))


# The tree head seen before


def test_the_live_verifier_checks_the_hub_s_proof_from_the_tree_head_it_saw_before(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    sign(engine, hub.settings, clock)
    with coordinator(hub.url, hub) as client:
        seen = fetch_live(client).heads[-1]
    rewrite(engine)
    again = sign(engine, hub.settings, clock)  # the rewritten log, at the size seen
    grow(engine, clock)
    newest = sign(engine, hub.settings, clock)
    assert again.tree_size == seen.tree_size
    assert again.root_hash != seen.root_hash
    with coordinator(hub.url, hub) as client:
        assert fetch_live(client).proof_problems == []  # the hub's own heads agree...
        live = fetch_live(client, last_seen=seen)
    assert live.proof_problems == [  # ...but not with the head seen before
        f"the hub's consistency proof from size {seen.tree_size} to {newest.tree_size} "
        "does not verify"
    ]


def test_a_log_rewritten_at_the_size_seen_before_fails_the_inclusion_proofs_of_its_receipts(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    deliver(hub)
    deliver(hub)
    sign(engine, hub.settings, clock)
    with coordinator(hub.url, hub) as client:
        seen = fetch_live(client).heads[-1]
    rewrite(engine)
    again = sign(engine, hub.settings, clock)  # the rewritten log, not grown since
    assert (again.tree_size, again.root_hash != seen.root_hash) == (seen.tree_size, True)
    with coordinator(hub.url, hub) as client:
        assert fetch_live(client).proof_problems == []
        live = fetch_live(client, last_seen=seen)
    assert len(receipts(engine)) == 2
    assert live.proof_problems == [
        f"the hub's inclusion proof for entry {index} does not verify" for index in receipts(engine)
    ]


def test_a_log_behind_the_tree_head_seen_before_is_said_to_be_rolled_back_and_not_proven_to_it(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    deliver(hub)
    kept = sign(engine, hub.settings, clock)
    grow(engine, clock, 2)
    sign(engine, hub.settings, clock)
    with coordinator(hub.url, hub) as client:
        seen = fetch_live(client).heads[-1]
    with engine.begin() as connection:  # the hub restored from a backup taken at `kept`
        size = {"size": kept.tree_size}
        connection.execute(text("DELETE FROM audit_entries WHERE leaf_index >= :size"), size)
        connection.execute(text("DELETE FROM audit_tree_heads WHERE tree_size > :size"), size)
        connection.execute(text("UPDATE audit_log SET size = :size"), size)
    with coordinator(hub.url, hub) as client:
        live = fetch_live(client, last_seen=seen)  # no proof asked to the head it lost
    assert live.proof_problems == []
    trusted = trusted_hub_keys(live.published, hub.network.hub_trust())
    verdict = verify_log(live.entries, live.heads, live.published, trusted, last_seen=seen)
    signed_at = seen.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert verdict.problems == [
        f"the log has {kept.tree_size} entries, fewer than the {seen.tree_size} of the tree "
        f"head you saw signed at {signed_at}: the hub's log was rolled back (restored from a "
        "backup) or entries were deleted. Keep your saved tree head as evidence and ask the "
        "hub's operator what happened before you trust this log again"
    ]


# A hub that serves proofs that do not verify


def test_a_consistency_proof_with_one_hash_changed_is_named_by_its_two_sizes(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    earlier = sign(engine, hub.settings, clock)
    grow(engine, clock, 3)
    later = sign(engine, hub.settings, clock)
    with coordinator(hub.url, hub) as client:
        assert fetch_live(client).proof_problems == []
    path = "/v1/audit/proof/consistency"
    with lying(hub, path, one_hash_changed("consistency_path")) as client:
        live = fetch_live(client)
    assert live.proof_problems == [
        f"the hub's consistency proof from size {earlier.tree_size} to {later.tree_size} "
        "does not verify"
    ]


def test_an_inclusion_proof_with_one_hash_changed_is_named_by_its_entry(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    deliver(hub)
    sign(engine, hub.settings, clock)
    deliver(hub)  # a receipt covered by the newest head only
    submit(hub)
    packets = pull(hub)
    newest = sign(engine, hub.settings, clock)
    send_receipts(hub, packets)  # a receipt no head covers yet: no proof to ask for
    covered = [index for index in receipts(engine) if index < newest.tree_size]
    assert len(covered) == 2
    assert receipts(engine)[-1] == newest.tree_size
    with coordinator(hub.url, hub) as client:
        assert fetch_live(client).proof_problems == []
    with lying(hub, "/v1/audit/proof/inclusion", one_hash_changed("audit_path")) as client:
        live = fetch_live(client)
    assert live.proof_problems == [
        f"the hub's inclusion proof for entry {index} does not verify" for index in covered
    ]


def test_a_proof_that_is_not_hex_is_said_in_one_line(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    deliver(hub)
    sign(engine, hub.settings, clock)

    def not_hex(answer: httpx.Response) -> Response:
        return JSONResponse({**answer.json(), "audit_path": ["not a hash"]})

    with (
        lying(hub, "/v1/audit/proof/inclusion", not_hex) as client,
        pytest.raises(ConfigurationError) as refused,
    ):
        fetch_live(client)
    assert str(refused.value) == (
        "cannot read the audit log: the hub's answer is not the documented shape (ValueError)"
    )


@pytest.mark.parametrize(
    "answer",
    [{}, None, [], {"audit_path": None}, {"audit_path": "ab"}],
    ids=["no members", "null", "a list", "a null path", "a string for a path"],
)
def test_a_proof_that_is_not_a_proof_is_said_in_one_line(
    hub: LiveHub, engine: Engine, clock: Clock, answer: object
) -> None:
    deliver(hub)
    sign(engine, hub.settings, clock)

    def malformed(_answer: httpx.Response) -> Response:
        return JSONResponse(answer)

    with (
        lying(hub, "/v1/audit/proof/inclusion", malformed) as client,
        pytest.raises(ConfigurationError) as refused,
    ):
        fetch_live(client)
    assert str(refused.value) == (
        "cannot read the audit log: the hub's answer is not the documented shape (ValidationError)"
    )


def refusal_of_consistency_proof(
    hub: LiveHub, engine: Engine, clock: Clock, answer: Callable[[httpx.Response], Response]
) -> str:
    """What `fetch_live` says when the hub answers `answer` for the proof between two heads."""
    sign(engine, hub.settings, clock)
    grow(engine, clock)
    sign(engine, hub.settings, clock)
    with (
        lying(hub, "/v1/audit/proof/consistency", answer) as client,
        pytest.raises(ConfigurationError) as refused,
    ):
        fetch_live(client)
    return str(refused.value)


def test_a_proof_the_hub_withholds_is_named_with_its_status_path_and_detail(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    def withheld(_answer: httpx.Response) -> Response:
        return JSONResponse({"detail": "proofs are withheld today"}, status_code=503)

    assert refusal_of_consistency_proof(hub, engine, clock, withheld) == (
        "cannot read the audit log: the hub answered 503 to /v1/audit/proof/consistency "
        "(proofs are withheld today)"
    )


def test_a_hub_that_answers_an_error_without_a_detail_is_named_with_the_status_s_reason(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    def unexplained(_answer: httpx.Response) -> Response:
        return Response("down for maintenance", status_code=503, media_type="text/plain")

    assert refusal_of_consistency_proof(hub, engine, clock, unexplained) == (
        "cannot read the audit log: the hub answered 503 to /v1/audit/proof/consistency "
        "(Service Unavailable)"
    )


# The report for people


def when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stored_verdict(engine: Engine, settings: Settings) -> AuditVerdict:
    with Session(engine) as session:
        return verify_stored(session, published_keys(settings))


def test_the_report_of_a_verified_log_names_its_newest_head_and_notes_the_entries_after_it(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    grow(engine, clock, 3)
    head = sign(engine, settings, clock)
    grow(engine, clock)  # not yet signed over
    verdict = stored_verdict(engine, settings)
    assert verdict.verified, verdict.problems
    assert format_verdict(verdict, source="the test hub") == "\n".join(
        [
            f"audit log of the test hub: {head.tree_size + 1} entries",
            f"latest signed tree head: size {head.tree_size}, root {head.root_hash[:16]}..., "
            f"signed {when(head.timestamp)}",
            "  checked 1 signed tree heads and their consistency",
            "  checked 0 receipts against their recipients' keys",
            "  note: 1 entries are newer than the latest signed tree head and not yet covered "
            "by a signature",
            "VERDICT: VERIFIED - every entry is included, unchanged and in order; every tree "
            "head is signed and consistent; every receipt verifies (proven up to entry "
            f"{head.tree_size})",
        ]
    )


def test_the_report_of_a_damaged_log_without_a_signed_head_lists_every_problem(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    grow(engine, clock, 4)
    with engine.begin() as connection:
        size = connection.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
        connection.execute(text("DELETE FROM audit_entries WHERE leaf_index IN (1, 2)"))
        connection.execute(
            text("UPDATE audit_entries SET kind = 'changed' WHERE leaf_index = :i"), {"i": size - 1}
        )
    verdict = stored_verdict(engine, settings)
    assert format_verdict(verdict, source="db") == "\n".join(
        [
            f"audit log of db: {size - 2} entries",
            "  checked 0 signed tree heads and their consistency",
            "  checked 0 receipts against their recipients' keys",
            "  note: no signed tree head yet: nothing signed vouches for these entries",
            "VERDICT: FAILED - 2 problem(s) found:",
            "  - entries 1 to 2 are missing (deleted)",
            f"  - entry {size - 1}: its columns disagree with its content (changed)",
        ]
    )


# The hub's own rounds


def restore_to(engine: Engine, size: int) -> None:
    """What restoring the database from a backup taken at `size` entries does to the log."""
    with engine.begin() as connection:
        params = {"size": size}
        connection.execute(text("DELETE FROM audit_entries WHERE leaf_index >= :size"), params)
        connection.execute(text("DELETE FROM audit_tree_heads WHERE tree_size > :size"), params)
        connection.execute(text("UPDATE audit_log SET size = :size"), params)


def stored_heads(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return [h.tree_size for h in audit.tree_heads(session, limit=10**6)]


def test_a_signing_round_keeps_the_size_it_signed_and_signs_no_log_restored_from_before_it(
    settings: Settings, engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    key = load_hub_secrets(settings)[0].signing_key
    high_water = tmp_path / "newest-signed-head.json"
    grow(engine, clock, 3)
    sign_round(engine, key=key, now=clock.now, high_water=high_water)
    signed = stored_heads(engine)
    assert signed_size(high_water) == signed[-1] >= 3
    restore_to(engine, signed[-1] - 2)
    grow(engine, clock)  # the restored log grows again, still behind the head signed
    clock.advance(seconds=1)
    sign_round(engine, key=key, now=clock.now, high_water=high_water)  # refused, not raised
    assert stored_heads(engine) == signed[:-1]
    assert signed_size(high_water) == signed[-1]


def test_the_full_round_refuses_to_sign_and_fails_a_log_restored_from_before_its_newest_head(
    settings: Settings, engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    secrets, published = load_hub_secrets(settings)
    high_water = tmp_path / "newest-signed-head.json"
    grow(engine, clock, 3)
    with capture_logs() as logs:
        first = audit_round(
            engine,
            key=secrets.signing_key,
            published=published,
            now=clock.now,
            high_water=high_water,
        )
    assert first.verified, first.problems
    assert "audit_log_damaged" not in [line["event"] for line in logs]
    size = first.signed_size
    restore_to(engine, size - 2)
    grow(engine, clock)
    clock.advance(seconds=1)
    with capture_logs() as logs:
        verdict = audit_round(
            engine,
            key=secrets.signing_key,
            published=published,
            now=clock.now,
            high_water=high_water,
        )
    assert {"event": "audit_log_damaged", "problems": 1, "log_level": "error"} in logs
    assert stored_heads(engine) == []  # nothing signed over the restored log
    assert not verdict.verified
    assert verdict.problems[0] == (
        f"the audit log holds {size - 1} entries but this hub signed a tree head of {size}: "
        "the database was restored from before that head. Not signing. Tell the coordinators "
        "the log was rolled back, then remove the newest-signed-head file beside the hub key "
        "to sign again from the restored log"
    )
    with Session(engine) as session:
        check = audit.last_check(session)
    assert check == AuditCheck(
        checked_at=clock.now,
        checked_by="hub",
        tree_size=size - 1,
        verified=False,
        problems=verdict.problems,
    )
    # Given the head seen before as well, the hub's own signed size is said first.
    with Session(engine) as session:
        both = verify_stored(session, published, last_seen=first.latest, high_water=high_water)
    assert first.latest is not None
    assert both.problems == [verdict.problems[0], rolled_back(size - 1, first.latest)]


# The offline verifier, given a log: each kind of damage is named, once, and the rest of the log
# is still checked.


@dataclass
class Log:
    """A hub's log as the verifier is given it: two reports delivered, receipted by nl-police
    and by nl-section, every entry covered by the signed tree head `head`."""

    entries: list[AuditEntry]
    heads: list[SignedTreeHead]
    published: PublishedHubKeys
    network: Network

    @property
    def head(self) -> SignedTreeHead:
        return self.heads[-1]

    def verdict(
        self,
        entries: list[AuditEntry] | None = None,
        heads: list[SignedTreeHead] | None = None,
        *,
        last_seen: SignedTreeHead | None = None,
    ) -> AuditVerdict:
        return verify_log(
            self.entries if entries is None else entries,
            self.heads if heads is None else heads,
            self.published,
            trusted_hub_keys(self.published, None),
            last_seen=last_seen,
        )

    def index_of(self, kind: str, *, recipient: str | None = "nl-police") -> int:
        found = [
            e.leaf_index for e in self.entries if (e.kind, e.recipient_id) == (kind, recipient)
        ]
        assert found, f"the log has no {kind} entry for {recipient}"
        return found[0]

    def event(self, index: int) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.entries[index].entry)["event"]
        return event

    def receipt_key_id(self, recipient: str) -> str:
        return next(
            str(self.event(e.leaf_index)["key_id"])
            for e in self.entries
            if e.kind == "key_registered"
            and e.recipient_id == recipient
            and self.event(e.leaf_index)["purpose"] == "receipt"
        )


def read_log(engine: Engine, settings: Settings, network: Network) -> Log:
    with Session(engine) as session:
        entries = audit.entries(session, limit=10**6)
        heads = audit.tree_heads(session, limit=10**6)
    return Log(entries, heads, published_keys(settings), network)


@pytest.fixture
def log(hub: LiveHub, engine: Engine, clock: Clock) -> Log:
    submit(hub)
    send_receipts(hub, pull(hub))
    submit(hub)
    send_receipts(hub, pull(hub, "nl-section"), "nl-section")
    sign(engine, hub.settings, clock)
    found = read_log(engine, hub.settings, hub.network)
    verdict = found.verdict()
    assert verdict.verified, verdict.problems
    receipts = [e for e in found.entries if e.kind == "receipt_verified"]
    assert {e.recipient_id for e in receipts} == {"nl-police", "nl-section"}
    assert (verdict.warnings, verdict.receipts_checked) == ([], len(receipts))
    assert found.head.tree_size == len(found.entries)
    return found


def rewritten(item: AuditEntry, entry: str) -> AuditEntry:
    """`item` with other bytes, and the leaf hash of those bytes."""
    return item.model_copy(
        update={"entry": entry, "leaf_hash": merkle.leaf_hash(entry.encode()).hex()}
    )


def with_event(item: AuditEntry, **changes: object) -> AuditEntry:
    """`item` with its event's fields changed, written as the hub writes an entry."""
    body = json.loads(item.entry)
    body["event"].update(changes)
    return rewritten(item, canonical_json(body).decode())


def appended(entries: list[AuditEntry], audit_event: AuditEvent, at: datetime) -> list[AuditEntry]:
    """`entries` and one more, `audit_event` at the next index, as the hub would append it."""
    index = len(entries)
    data = entry_bytes(index, audit_event, at)
    item = AuditEntry(
        leaf_index=index,
        at=at,
        kind=audit_event.kind,
        report_id=audit_event.report,
        recipient_id=audit_event.recipient,
        entry=data.decode(),
        leaf_hash=merkle.leaf_hash(data).hex(),
    )
    return [*entries, item]


def root_lost(head: SignedTreeHead) -> str:
    return (
        f"the first {head.tree_size} entries no longer have the root of the tree head signed at "
        f"{when(head.timestamp)} (entries were changed, moved, inserted or deleted)"
    )


def test_an_entry_given_twice_is_named_once_and_every_entry_after_it_is_still_checked(
    log: Log,
) -> None:
    twice = log.index_of("report_routed", recipient=None)
    entries = [*log.entries[: twice + 1], log.entries[twice], *log.entries[twice + 1 :]]
    verdict = log.verdict(entries)
    assert verdict.problems == [f"entry {twice} appears twice"]
    assert (verdict.tree_heads_checked, verdict.signed_size) == (len(log.heads), log.head.tree_size)


def test_entries_that_are_not_json_or_not_an_object_are_named_and_the_entries_after_them_checked(
    log: Log,
) -> None:
    garbled = log.index_of("report_routed", recipient=None)
    listed = log.index_of("packet_pulled")
    later = log.index_of("receipt_verified", recipient="nl-section")
    assert garbled < listed < later
    entries = list(log.entries)
    entries[garbled] = rewritten(entries[garbled], "not json")
    entries[listed] = rewritten(entries[listed], "[1, 2]")
    entries[later] = entries[later].model_copy(update={"kind": "receipt_rejected"})
    assert log.verdict(entries).problems == [
        f"entry {garbled} is not JSON (changed)",
        f"entry {listed} is not an entry (changed)",
        f"entry {later}: its columns disagree with its content (changed)",
        f"entry {garbled} is not a known kind of event",
        f"entry {listed} is not a known kind of event",
        root_lost(log.head),
    ]


def test_each_look_up_column_that_disagrees_with_its_entry_is_named(log: Log) -> None:
    index = log.index_of("packet_sealed")
    item = log.entries[index]
    assert (item.report_id, item.recipient_id) != (None, None)
    changes: list[dict[str, Any]] = [
        {"kind": "packet_pulled"},
        {"at": item.at + timedelta(seconds=1)},
        {"report_id": str(uuid4())},
        {"recipient_id": "nl-section"},
    ]
    for change in changes:
        entries = list(log.entries)
        entries[index] = item.model_copy(update=change)
        assert log.verdict(entries).problems == [
            f"entry {index}: its columns disagree with its content (changed)"
        ], change


def test_an_entry_whose_time_or_event_is_not_of_the_right_type_is_named(log: Log) -> None:
    index = log.index_of("report_routed", recipient=None)
    body = json.loads(log.entries[index].entry)
    entries = list(log.entries)
    entries[index] = rewritten(entries[index], canonical_json({**body, "at": 5}).decode())
    assert log.verdict(entries, []).problems == [
        f"entry {index}: its columns disagree with its content (changed)"
    ]
    entries[index] = rewritten(entries[index], canonical_json({**body, "event": "x"}).decode())
    assert log.verdict(entries, []).problems == [
        f"entry {index}: its columns disagree with its content (changed)",
        f"entry {index} is not a known kind of event",
    ]


def test_a_receipt_key_registered_under_another_key_s_id_is_named_and_its_receipts_fail(
    log: Log,
) -> None:
    registered = next(
        e.leaf_index
        for e in log.entries
        if e.kind == "key_registered"
        and e.recipient_id == "nl-police"
        and log.event(e.leaf_index)["purpose"] == "receipt"
    )
    receipt = log.index_of("receipt_verified")
    entries = list(log.entries)
    entries[registered] = with_event(entries[registered], key_id=log.receipt_key_id("nl-section"))
    packet = log.event(receipt)["packet_id"]
    assert log.verdict(entries, []).problems == [
        f"entry {registered}: key id does not match the public key",
        f"entry {receipt}: the receipt for packet {packet} does not verify with a receipt key "
        "of nl-police valid at that time",
    ]


def test_a_receipt_signed_with_a_revoked_key_is_named_and_revoking_other_keys_changes_nothing(
    log: Log, hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        revoke(session, log.receipt_key_id("nl-police"), clock.now)
    sealing = next(
        log.event(e.leaf_index)["key_id"]
        for e in log.entries
        if e.kind == "key_registered"
        and e.recipient_id == "nl-section"
        and log.event(e.leaf_index)["purpose"] == "sealing"
    )
    with Session(engine) as session:
        revoke(session, sealing, clock.now)
    revoked = read_log(engine, hub.settings, hub.network).entries
    assert [e.kind for e in revoked[len(log.entries) :]] == ["key_revoked", "key_revoked"]
    # A key the log never registered, of a recipient it has no receipt key of: nothing to undo.
    unknown = KeyRevoked(recipient_id="nl-nobody", key_id="ed25519:" + "0" * 32, purpose="receipt")
    revoked = appended(revoked, unknown, clock.now)
    assert log.verdict(revoked, []).problems == []
    receipt = log.index_of("receipt_verified")
    again = ReceiptVerified.model_validate(log.event(receipt))
    entries = appended(revoked, again, clock.now)
    verdict = log.verdict(entries, [])
    assert verdict.problems == [
        f"entry {len(revoked)}: the receipt for packet {again.packet_id} does not verify with a "
        "receipt key of nl-police valid at that time"
    ]
    assert verdict.receipts_checked == len(receipts(engine)) + 1


def test_a_receipt_that_names_another_digest_recipient_or_packet_than_the_log_sealed_is_named(
    log: Log, clock: Clock
) -> None:
    index = log.index_of("receipt_verified")
    receipted = ReceiptVerified.model_validate(log.event(index))
    packet = receipted.packet_id
    sealed = next(
        e.leaf_index
        for e in log.entries
        if e.kind == "packet_sealed" and log.event(e.leaf_index)["packet_id"] == packet
    )
    digest = log.event(sealed)["sealed_sha256"]
    wrong = (
        f"entry {{}}: the receipt for packet {packet} does not name the packet and digest the "
        "log says were sealed"
    )
    # The log says the packet was sealed to other bytes.
    entries = list(log.entries)
    entries[sealed] = with_event(entries[sealed], sealed_sha256="0" * 64)
    assert log.verdict(entries, []).problems == [wrong.format(index)]
    # nl-section signs, with its own key, a receipt for nl-police's packet.
    body = ReceiptBody(
        packet_id=UUID(packet),
        recipient_id="nl-police",
        sealed_sha256=digest,
        received_at=clock.now,
    )
    signed = sign_envelope(RECEIPT_TYPE, body, log.network.keys("nl-section").signing)
    by_another = receipted.model_copy(update={"recipient_id": "nl-section", "receipt": signed})
    entries = appended(log.entries, by_another, clock.now)
    assert log.verdict(entries, []).problems == [wrong.format(len(log.entries))]
    # nl-police's receipt filed under another packet, which the log says was sealed to the same
    # bytes for the same recipient.
    other = str(uuid4())
    resealed = PacketSealed.model_validate({**log.event(sealed), "packet_id": other})
    entries = appended(log.entries, resealed, clock.now)
    entries = appended(entries, receipted.model_copy(update={"packet_id": other}), clock.now)
    assert log.verdict(entries, []).problems == [
        f"entry {len(log.entries) + 1}: the receipt for packet {other} does not name the packet "
        "and digest the log says were sealed"
    ]


def signed_head(
    settings: Settings, head: SignedTreeHead, *, at: datetime, key: SigningKey | None = None
) -> SignedTreeHead:
    """`head` signed again at `at`, by the hub's key or by `key`."""
    key = key or load_hub_secrets(settings)[0].signing_key
    body = TreeHeadBody(tree_size=head.tree_size, root_hash=head.root_hash, timestamp=at)
    return head.model_copy(
        update={"timestamp": at, "envelope": sign_envelope(TREE_HEAD_TYPE, body, key)}
    )


def test_a_tree_head_not_signed_by_the_hub_is_named_and_the_heads_after_it_still_checked(
    log: Log, hub: LiveHub
) -> None:
    smaller, newest = log.heads
    stranger = generate_keyset(sealing=False).signing
    forged = signed_head(hub.settings, smaller, at=smaller.timestamp, key=stranger)
    verdict = log.verdict(heads=[newest, forged])
    assert verdict.problems == [
        f"the tree head of size {smaller.tree_size} is not signed by a trusted hub key"
    ]
    assert (verdict.tree_heads_checked, verdict.latest) == (1, newest)


def test_a_larger_tree_head_signed_before_a_smaller_one_is_named_and_one_signed_with_it_is_not(
    log: Log, hub: LiveHub
) -> None:
    smaller, newest = log.heads
    later = signed_head(hub.settings, smaller, at=newest.timestamp + timedelta(seconds=1))
    assert log.verdict(heads=[later, newest]).problems == [
        f"the tree head of size {newest.tree_size} is older than a smaller one"
    ]
    same = signed_head(hub.settings, smaller, at=newest.timestamp)
    verdict = log.verdict(heads=[newest, same])
    assert (verdict.problems, verdict.latest) == ([], newest)


def test_a_log_behind_the_head_seen_before_is_said_to_be_rolled_back_first(log: Log) -> None:
    size = log.head.tree_size
    verdict = log.verdict(log.entries[:-2], last_seen=log.head)
    assert verdict.problems == [
        rolled_back(size - 2, log.head),
        f"the tree head signed at {when(log.head.timestamp)} covers {size} entries but the log "
        f"has {size - 2} (entries were deleted)",
    ]
    assert log.verdict(last_seen=log.head).problems == []  # the log at the size seen
    index = log.index_of("packet_pulled")
    entries = list(log.entries)
    entries[index] = with_event(entries[index], recipient_id="nl-section")
    assert log.verdict(entries, [], last_seen=log.head).problems == [
        f"entry {index}: its columns disagree with its content (changed)",
        f"the first {size} entries no longer have the root of the tree head this verifier saw "
        "before (entries were changed, moved, inserted or deleted)",
    ]


def test_an_empty_log_verifies_with_nothing_signed_and_nothing_to_note(log: Log) -> None:
    assert log.verdict([], []) == AuditVerdict(
        verified=True,
        entries=0,
        signed_size=0,
        latest=None,
        tree_heads_checked=0,
        receipts_checked=0,
        problems=[],
        warnings=[],
    )


# The hub's own database, longer than a page


def test_the_hub_reads_every_entry_of_a_log_longer_than_its_page_and_past_each_gap(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        for number in range(6100):
            grown = OperatorAction(
                actor="x", role="administrator", action="grow", subject=f"{number}"
            )
            audit.record(session, grown, at=clock.now)
        session.commit()
        size = audit.tree_size(session)
    assert size > 5000 + 1000
    verdict = stored_verdict(engine, settings)
    assert (verdict.entries, verdict.problems) == (size, [])
    with engine.begin() as connection:  # a gap where the second page starts
        connection.execute(text("DELETE FROM audit_entries WHERE leaf_index = 5000"))
    verdict = stored_verdict(engine, settings)
    assert (verdict.entries, verdict.problems) == (size - 1, ["entry 5000 is missing (deleted)"])
    with engine.begin() as connection:  # one inside the first page: the second starts later
        connection.execute(text("DELETE FROM audit_entries WHERE leaf_index = 10"))
    verdict = stored_verdict(engine, settings)
    assert (verdict.entries, verdict.problems) == (
        size - 2,
        ["entry 10 is missing (deleted)", "entry 5000 is missing (deleted)"],
    )
    with engine.begin() as connection:  # and one where the first page starts
        connection.execute(text("DELETE FROM audit_entries WHERE leaf_index = 0"))
    verdict = stored_verdict(engine, settings)
    assert (verdict.entries, verdict.problems) == (
        size - 3,
        [
            "entry 0 is missing (deleted)",
            "entry 10 is missing (deleted)",
            "entry 5000 is missing (deleted)",
        ],
    )


def test_the_hub_checks_and_exports_every_tree_head_however_many(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    sign_each(engine, hub.settings, clock, PAGE)
    with Session(engine) as session:
        stored = audit.tree_heads(session, limit=10 * PAGE)
        exported = export_log(session, published_keys(hub.settings), clock.now)
    assert len(stored) > PAGE
    assert exported.tree_heads == stored
    assert exported.exported_at == clock.now
    verdict = stored_verdict(engine, hub.settings)
    assert (verdict.tree_heads_checked, verdict.latest) == (len(stored), stored[-1])
    assert verdict.verified, verdict.problems


def test_the_hub_verifies_its_own_log_when_empty_and_when_one_entry_long(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    empty = stored_verdict(engine, settings)
    assert (empty.verified, empty.entries, empty.warnings) == (True, 0, [])
    grow(engine, clock)
    one = stored_verdict(engine, settings)
    assert (one.verified, one.entries, one.problems) == (True, 1, [])
    assert one.warnings == ["no signed tree head yet: nothing signed vouches for these entries"]


def test_the_live_verifier_asks_for_the_proof_between_each_two_tree_heads_in_turn(
    hub: LiveHub, engine: Engine, clock: Clock
) -> None:
    deliver(hub)
    sign(engine, hub.settings, clock)
    grow(engine, clock)
    sign(engine, hub.settings, clock)
    deliver(hub)
    sign(engine, hub.settings, clock)
    with coordinator(hub.url, hub) as client:
        live = fetch_live(client)
    assert len(live.heads) >= 4
    assert live.proof_problems == []
