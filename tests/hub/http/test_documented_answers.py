"""What the documents say the hub sends is what it sends: a client written from docs/protocol.md
and docs/audit.md alone finds every member where they say, `null` where they say, and the
example report they give is accepted."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from hub.audit import log as audit
from hub.settings import Settings
from schemas.report import SCHEMA_FILE
from tests.conftest import Clock, Network
from tests.connectors.doc_examples import doc_block, table_members
from tests.factories import report_body
from tests.hub.audit.test_audit import deliver, sign
from tests.hub.delivery.test_delivery import pull

PACKET_TABLE = "### Packet (signed by the hub)"
_MEMBER = re.compile(r'[{,]\s*"(\w+)"')  # a member's name, not a value: after `{` or `,`


def _members(shape: str) -> set[str]:
    """The member names of a documented shape such as `{"a", "b": "<hex>", "c"}`."""
    return set(_MEMBER.findall(shape))


def _body(envelope: Any) -> dict[str, Any]:
    payload = envelope["payload"] if isinstance(envelope, dict) else envelope.payload
    body: dict[str, Any] = json.loads(base64.b64decode(payload))
    return body


def test_a_packet_from_intake_has_every_documented_member_and_the_forward_pair_null(
    client: TestClient, network: Network
) -> None:
    answer = client.post("/v1/reports", json=report_body(), headers=network.auth("portal-nl"))
    assert answer.status_code == 202, answer.text
    [packet] = pull(client, network, "nl-police")
    body = _body(packet)
    assert list(body) == table_members(PACKET_TABLE)
    assert body["packet_version"] == 2
    assert body["forward"] is None
    assert body["forwarder_key"] is None
    assert body["commitment"] is not None
    assert body["sealed_salt"] is not None


def test_the_published_hub_keys_have_the_members_the_protocol_lists_null_where_unused(
    client: TestClient,
) -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text("utf-8")
    section = text[text.index("## 8. The hub's key history") :]
    documented = _members(section[section.index('{"keys": [{') : section.index("}]}")]) - {"keys"}
    assert documented == {
        "key_id",
        "algorithm",
        "public_key",
        "valid_from",
        "valid_until",
        "endorsement",
    }
    assert '"valid_until": "<RFC 3339>" | null' in section
    assert '"endorsement": <DSSE envelope> | null' in section
    overview = text[: text.index("## 2.")]
    assert documented <= _members(overview[overview.index('{"keys": [{') :])
    for path in ("/v1/hub/keys", "/.well-known/ctt-hub-keys.json"):
        [first] = client.get(path).json()["keys"]
        assert set(first) == documented
        assert first["valid_until"] is None
        assert first["endorsement"] is None


def test_the_example_report_of_the_protocol_is_valid_and_accepted_with_202_twice(
    client: TestClient, network: Network
) -> None:
    example = json.loads(doc_block("<!-- report-example -->", "json"))
    assert jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text("utf-8"))).is_valid(example)
    first = client.post("/v1/reports", json=example, headers=network.auth("portal-nl"))
    assert first.status_code == 202, first.text
    again = client.post("/v1/reports", json=example, headers=network.auth("portal-nl"))
    assert again.status_code == 202, again.text
    assert again.json() == first.json()
    assert set(first.json()) == {
        "report_id",
        "accepted_at",
        "recipients",
        "acknowledgement",
        "awaiting_key",
    }
    assert "nl-section" in [r["recipient_id"] for r in first.json()["recipients"]]


def test_a_contact_reporter_without_email_or_phone_is_refused_by_the_schema_and_the_hub(
    client: TestClient, network: Network
) -> None:
    schema = jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text("utf-8")))
    contact = {"kind": "contact", "consent_to_contact": True, "preferred_language": "nl"}
    for reporter, valid in [
        (contact, False),
        ({**contact, "email": None, "phone": None}, False),
        ({**contact, "phone": "+31 20 555 0100"}, True),
        ({**contact, "email": "reporter@example.org", "phone": None}, True),
    ]:
        body = {**report_body(), "reporter": reporter}
        assert schema.is_valid(body) is valid, reporter
        answer = client.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
        if valid:
            assert answer.status_code == 202, answer.text
        else:
            assert answer.status_code == 422
            assert answer.json()["errors"] == [
                {"field": "reporter.email", "reason": "email or phone is required"}
            ]


def test_the_audit_answers_have_exactly_the_members_docs_audit_lists(
    client: TestClient, network: Network, engine: Engine, settings: Settings, clock: Clock
) -> None:
    documented = {
        line.split()[1]: (line.split(None, 2)[2].startswith("["), _members(line.split(None, 2)[2]))
        for line in doc_block("<!-- audit-answers -->", doc="audit.md").splitlines()
    }
    deliver(client, network)
    head = sign(engine, settings, clock.now).latest
    assert head is not None
    with Session(engine) as session:
        audit.record_check(
            session,
            audit.AuditCheck(
                checked_at=clock(), checked_by="test", tree_size=1, verified=True, problems=[]
            ),
        )
        session.commit()
    queries = {
        "/v1/audit/tree-head": "",
        "/v1/audit/tree-heads": "",
        "/v1/audit/entries": "?start=0&limit=3",
        "/v1/audit/proof/inclusion": "?leaf_index=0",
        "/v1/audit/proof/consistency": "?first=1",
        "/v1/audit/verification": "",
    }
    assert set(documented) == set(queries)
    coordinator = network.auth("network-coordinator")
    for path, (is_array, members) in documented.items():
        answer = client.get(path + queries[path], headers=coordinator)
        assert answer.status_code == 200, (path, answer.text)
        items = answer.json() if is_array else [answer.json()]
        assert isinstance(answer.json(), list) is is_array, path
        assert items, path
        assert all(set(item) == members for item in items), (path, items[0])


def test_the_openapi_document_lists_no_401_or_403_for_public_routes_and_every_bundle_member(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    public = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "security" not in operation
    }
    assert ("/healthz", "get") in public
    assert ("/v1/hub/keys", "get") in public
    for path, method in public:
        assert {"401", "403"}.isdisjoint(document["paths"][path][method]["responses"]), path
    assert "401" in document["paths"]["/v1/reports"]["post"]["responses"]
    required = document["components"]["schemas"]["EvidenceBundle"]["required"]
    assert "format" in required
