"""Report ids are the sources' own: two portals that choose the same id have two reports, both
routed, and neither learns of the other; a recipient and a source name a report through their own
copies of it, coordinators by the hub's key. Only random (version 4) UUIDs in lowercase are ids."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid1, uuid3, uuid4, uuid5

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from connectors.recipient.evidence import parse_bundle, verify_bundle
from connectors.recipient.forward import seal_forward
from hub.crypto import open_packet
from hub.store import (
    CopyDeletionRow,
    DeliveryRow,
    ForwardRow,
    OutcomeRow,
    ReportRow,
    TriageDecisionRow,
)
from schemas.commitment import ForwardAdditions
from tests.conftest import Clock, Network, stored_counts
from tests.connectors.doc_examples import doc_example, run_example
from tests.factories import report_body
from tests.hub.delivery.test_delivery import pull, receipt_for, send_receipts
from tests.hub.oversight.test_feedback import receive

SHARED_ID = str(uuid4())
CLOSE = {"decision": "close", "classification": "not_within_scope", "reason_code": "duplicate"}


EVIDENCE_EXAMPLE = "<!-- evidence-example -->"  # docs/protocol.md §9.3


def submit(client: TestClient, network: Network, body: dict[str, Any]) -> Any:
    return client.post("/v1/reports", json=body, headers=network.auth(body["source"]))


def shared(source: str, description: str, report_id: str = SHARED_ID) -> dict[str, Any]:
    """A report from `source` under `report_id`: NL suspects, so nl-section receives it."""
    body = report_body(source, nationalities=("NL",))
    body["report_id"] = report_id
    body["incident"]["description"] = description
    return body


def keys_of(engine: Engine, report_id: str) -> dict[str, str]:
    """The hub's key of each source's report with this id, by source."""
    with Session(engine) as session:
        rows = session.exec(select(ReportRow).where(ReportRow.report_id == report_id)).all()
    return {row.source_id: row.id for row in rows}


def test_two_portals_that_choose_the_same_id_both_get_their_report_routed_and_learn_nothing(
    client: TestClient, network: Network, engine: Engine
) -> None:
    first = submit(client, network, shared("portal-nl", "One thing happened."))
    second = submit(client, network, shared("portal-at", "Something else happened."))
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert first.json()["report_id"] == second.json()["report_id"] == SHARED_ID
    # Each answer is about its own report only: the other source is never named.
    assert "portal-nl" not in second.text
    assert "portal-at" not in first.text
    assert "at-section" in {r["recipient_id"] for r in second.json()["recipients"]}
    keys = keys_of(engine, SHARED_ID)
    assert keys["portal-nl"] == SHARED_ID  # the first keeps its id as its key
    assert keys["portal-at"] != SHARED_ID
    assert UUID(keys["portal-at"]).version == 4
    with Session(engine) as session:
        held = session.exec(select(DeliveryRow.report_id, DeliveryRow.recipient_id)).all()
    assert {r for k, r in held if k == keys["portal-nl"]} == {"nl-section", "nl-police"}
    assert {r for k, r in held if k == keys["portal-at"]} == {
        "nl-section",
        "nl-police",
        "at-section",
    }


def test_a_repeat_by_the_same_portal_is_as_before_whoever_else_used_the_id(
    client: TestClient, network: Network, engine: Engine
) -> None:
    assert submit(client, network, shared("portal-nl", "One thing happened.")).status_code == 202
    mine = shared("portal-at", "Something else happened.")
    first = submit(client, network, mine)
    counts = stored_counts(engine)
    again = submit(client, network, mine)
    assert again.status_code == 202
    assert again.json() == first.json()
    changed = submit(client, network, shared("portal-at", "A third story."))
    assert changed.status_code == 409
    assert stored_counts(engine) == counts


def test_two_portals_sending_the_same_id_at_once_both_get_202(
    client: TestClient, network: Network, engine: Engine
) -> None:
    ids = [str(uuid4()) for _ in range(6)]
    bodies = [shared(s, f"Story of {s}.", i) for i in ids for s in ("portal-nl", "portal-at")]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda body: submit(client, network, body), bodies))
    assert [a.status_code for a in answers] == [202] * len(bodies)
    assert all(len(keys_of(engine, i)) == 2 for i in ids)


def status(client: TestClient, network: Network, source: str) -> Any:
    return client.get(f"/v1/reports/{SHARED_ID}/status", headers=network.auth(source))


def test_each_portal_sees_the_status_of_its_own_report_under_a_shared_id(
    client: TestClient, network: Network
) -> None:
    submit(client, network, shared("portal-nl", "One thing happened."))
    submit(client, network, shared("portal-at", "Something else happened."))
    receive(client, network, "at-section")
    nl, at = status(client, network, "portal-nl"), status(client, network, "portal-at")
    assert (nl.status_code, at.status_code) == (200, 200)
    assert nl.json()["report_id"] == at.json()["report_id"] == SHARED_ID
    assert {(r["country"], r["state"]) for r in nl.json()["recipients"]} == {("NL", "in_transit")}
    assert ("AT", "received") in {(r["country"], r["state"]) for r in at.json()["recipients"]}


def decide(
    client: TestClient, network: Network, recipient: str, at: datetime, query: str = ""
) -> Any:
    return client.post(
        f"/v1/reports/{SHARED_ID}/triage{query}",
        json={"decided_at": at.isoformat(), **CLOSE},
        headers=network.auth(recipient),
    )


def test_triage_under_a_shared_id_lands_on_the_caller_s_own_report(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    submit(client, network, shared("portal-nl", "One thing happened."))
    submit(client, network, shared("portal-at", "Something else happened."))
    for recipient in ("nl-section", "at-section"):
        receive(client, network, recipient)
    clock.advance(hours=1)
    keys = keys_of(engine, SHARED_ID)
    # at-section holds one report of that id: the id alone names it.
    assert decide(client, network, "at-section", clock()).status_code == 201
    # nl-section holds both: it names the source, and an id alone is refused without a guess.
    ambiguous = decide(client, network, "nl-section", clock())
    assert ambiguous.status_code == 409
    assert "source" in ambiguous.json()["detail"]
    chosen = decide(client, network, "nl-section", clock(), "?source=portal-nl")
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["report_id"] == SHARED_ID
    # A source the caller received nothing from under this id is as unknown as any report.
    assert decide(client, network, "nl-section", clock(), "?source=platform-int").status_code == 404
    with Session(engine) as session:
        rows = session.exec(select(TriageDecisionRow)).all()
    assert sorted((row.recipient_id, row.report_id) for row in rows) == [
        ("at-section", keys["portal-at"]),
        ("nl-section", keys["portal-nl"]),
    ]


def test_forwards_outcomes_and_deletions_under_a_shared_id_reach_the_caller_s_own_report(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    submit(client, network, shared("portal-nl", "One thing happened."))
    submit(client, network, shared("portal-at", "Something else happened."))
    keys = keys_of(engine, SHARED_ID)
    section = network.keys("nl-section")
    police = network.keys("nl-police")
    assert section.sealing is not None
    assert police.sealing is not None
    envelopes = pull(client, network, "nl-section")
    receipts = [receipt_for(network, "nl-section", e) for e in envelopes]
    assert send_receipts(client, network, "nl-section", receipts).status_code == 200
    auth = network.auth("nl-section")
    # A forward names its report by the hub's commitment it carries: each lands on its own.
    for envelope in envelopes:
        opened = open_packet(envelope, hub_keys=network.hub_trust(), private=section.sealing)
        request = seal_forward(
            opened,
            signing_key=section.signing,
            to_recipient_id="nl-police",
            to_key=police.sealing.public_key,
            withheld=[],
            additions=ForwardAdditions(classification="matrix"),
            now=clock(),
        )
        answer = client.post("/v1/forwards", json=request.model_dump(mode="json"), headers=auth)
        assert answer.status_code == 202, answer.text
        assert answer.json()["report_id"] == SHARED_ID
    deleted = {"deleted_at": clock().isoformat()}
    path = f"/v1/reports/{SHARED_ID}"
    assert client.post(f"{path}/deletion", json=deleted, headers=auth).status_code == 409
    assert (
        client.post(
            f"{path}/outcome", json={"outcome": "under_assessment"}, headers=auth
        ).status_code
        == 409
    )
    assert (
        client.post(f"{path}/deletion?source=portal-at", json=deleted, headers=auth).status_code
        == 200
    )
    outcome = client.post(
        f"{path}/outcome?source=portal-nl", json={"outcome": "under_assessment"}, headers=auth
    )
    assert outcome.status_code == 200, outcome.text
    assert outcome.json()["report_id"] == SHARED_ID
    with Session(engine) as session:
        forwarded = {row.report_id for row in session.exec(select(ForwardRow)).all()}
        deletions = [row.report_id for row in session.exec(select(CopyDeletionRow)).all()]
        outcomes = [row.report_id for row in session.exec(select(OutcomeRow)).all()]
    assert forwarded == set(keys.values())
    assert (deletions, outcomes) == ([keys["portal-at"]], [keys["portal-nl"]])


def test_the_evidence_of_each_report_under_a_shared_id_is_its_own_and_verifies(
    client: TestClient, network: Network, engine: Engine, tmp_path: Path
) -> None:
    submit(client, network, shared("portal-nl", "One thing happened."))
    submit(client, network, shared("portal-at", "Something else happened."))
    receive(client, network, "nl-section")
    keys = keys_of(engine, SHARED_ID)
    bundles = {}
    for source, key in keys.items():
        answer = client.get(
            f"/v1/reports/{key}/evidence", headers=network.auth("network-coordinator")
        )
        assert answer.status_code == 200, answer.text
        bundle = parse_bundle(answer.content)
        summary = verify_bundle(bundle, network.hub_trust())
        assert (summary.report_id, summary.source) == (SHARED_ID, source)
        by_the_document = run_example(
            doc_example(EVIDENCE_EXAMPLE),
            tmp_path / source,
            {
                "hub-public-keys.json": (network.listing_path.parent / "hub.pub.json").read_bytes(),
                "evidence.json": answer.content,
            },
        )
        assert by_the_document.returncode == 0, by_the_document.stderr
        bundles[source] = bundle
    with Session(engine) as session:
        packets = {
            key: set(
                session.exec(
                    select(DeliveryRow.packet_id).where(col(DeliveryRow.report_id) == key)
                ).all()
            )
            for key in keys.values()
        }
    for source, bundle in bundles.items():
        assert {str(p.packet_id) for p in bundle.packets} == packets[keys[source]]
    # Each bundle and each report's audit look-up holds its own routing entry, not the other's.
    for source, bundle in bundles.items():
        routed = [
            entry["event"]
            for entry in (json.loads(e.entry) for e in bundle.entries)
            if entry["kind"] == "report_routed"
        ]
        assert [(r["report_id"], r["source_id"]) for r in routed] == [(SHARED_ID, source)]
        listed = client.get(
            "/v1/audit/entries",
            params={"report_id": keys[source]},
            headers=network.auth("network-coordinator"),
        )
        assert listed.status_code == 200, listed.text
        kinds = [e["kind"] for e in listed.json()]
        assert kinds.count("report_routed") == 1
        assert {e["leaf_index"] for e in listed.json()} <= {e.leaf_index for e in bundle.entries}
    # The first report's bundle is as before ids were per source; the other names its key.
    assert bundles["portal-nl"].report_key is None
    assert "report_key" not in json.loads(bundles["portal-nl"].model_dump_json())
    assert str(bundles["portal-at"].report_key) == keys["portal-at"]


UPPER = str(uuid4()).upper()
NOT_RANDOM = {
    "nil": "00000000-0000-0000-0000-000000000000",
    "version 1": str(uuid1()),
    "version 3": str(uuid3(UUID(int=1), "form-17")),
    "version 5": str(uuid5(UUID(int=1), "form-17")),
    "uppercase": UPPER,
    "braces": "{" + str(uuid4()) + "}",
    "no hyphens": uuid4().hex,
    "urn": f"urn:uuid:{uuid4()}",
}


@pytest.mark.parametrize("report_id", list(NOT_RANDOM.values()), ids=list(NOT_RANDOM))
def test_an_id_that_is_not_a_random_uuid_in_lowercase_is_refused_at_report_id_unquoted(
    report_id: str, client: TestClient, network: Network, engine: Engine
) -> None:
    body = {**report_body("portal-nl"), "report_id": report_id}
    answer = submit(client, network, body)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == ["report_id"]
    assert all(e["reason"] for e in errors)
    assert report_id not in answer.text
    assert report_id.lower() not in answer.text
    assert stored_counts(engine) == (0, 0)


def test_the_ids_portals_derive_from_their_form_ids_are_accepted(
    client: TestClient, network: Network
) -> None:
    derived = uuid5(UUID(int=1), "portal-nl:form-17")
    body = {**report_body("portal-nl"), "report_id": str(UUID(bytes=derived.bytes, version=4))}
    answer = submit(client, network, body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["report_id"] == body["report_id"]
