"""Hostile input: each kind of malformed body gets a 4xx, stores nothing and is logged; the
parsers of the report schema, of packets and of receipts take arbitrary bytes without crashing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from structlog.testing import capture_logs

from hub import crypto
from hub.errors import InvalidInput, PacketInvalid
from hub.http.app import create_app
from hub.http.strictjson import MAX_DEPTH, loads_strict
from hub.network.credentials import Role, issue_credential, register_administrator
from hub.settings import Settings
from hub.store import AuditEntryRow, DeliveryRow
from keys import fingerprint, generate_keyset
from schemas.envelope import PACKET_TYPE, RECEIPT_TYPE, Envelope, Signature
from schemas.report import Report
from tests.conftest import Clock, Network, stored_counts
from tests.factories import report_body

REPORT_ID_REASON = "must be a random (version 4) UUID, lowercase, as 8-4-4-4-12 hex digits"

HUB = generate_keyset(sealing=False)
ALICE = generate_keyset()
HUB_TRUST = {HUB.public.signing_key_id: HUB.public.signing}
ALICE_TRUST = {ALICE.public.signing_key_id: ALICE.public.signing}
ANY_FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def hub(settings: Settings, network: Network, clock: Clock) -> Iterator[TestClient]:
    """The hub with a rate no test here reaches: every refusal below is the input's doing."""
    generous = settings.model_copy(update={"scheduler": False, "intake_rate_limit": "10000/minute"})
    with TestClient(create_app(generous, clock=clock), raise_server_exceptions=False) as client:
        yield client


def _delivered(engine: Engine) -> int:
    with Session(engine) as session:
        query = (
            select(func.count()).select_from(DeliveryRow).where(DeliveryRow.state == "delivered")
        )
        return int(session.exec(query).one())


def _report_bytes(**replace: str) -> bytes:
    """A valid report from portal-nl as JSON text, with some of its text replaced verbatim."""
    text = json.dumps(report_body("portal-nl"))
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text.encode()


def _nested(depth: int) -> bytes:
    body = report_body("portal-nl")
    raw = json.dumps(body)[:-1]
    return (raw + ', "extra": ' + "[" * depth + "]" * depth + "}").encode()


HOSTILE: dict[str, tuple[bytes, str]] = {
    "invalid UTF-8": (_report_bytes(Pattaya="Patt<FF>ya").replace(b"<FF>", b"\xff"), "UTF-8"),
    "a byte order mark": (b"\xef\xbb\xbf" + _report_bytes(), "byte order mark"),
    "nesting 40 deep": (_nested(40), "nested deeper"),
    "nesting 100,000 deep": (_nested(100_000), "nested deeper"),
    "a huge integer": (_report_bytes(**{'"count": 1': '"count": ' + "9" * 5000}), "number"),
    "a float beyond range": (_report_bytes(**{'"count": 1': '"count": 1e999'}), "number"),
    "NaN": (_report_bytes(**{'"count": 1': '"count": NaN'}), "NaN"),
    "Infinity": (_report_bytes(**{'"count": 1': '"count": -Infinity'}), "Infinity"),
    # The first source would be read by one parser, the last by another: refused outright.
    "a duplicate key": (
        _report_bytes(**{'"source": "portal-nl"': '"source": "portal-at", "source": "portal-nl"'}),
        "same key twice",
    ),
    "a lone surrogate escape": (_report_bytes(Pattaya="Patt\\ud800ya"), "surrogate"),
    "not JSON at all": (b"report: yes", "not valid JSON"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_report_body_gets_422_naming_the_reason_stores_nothing_and_is_logged(
    kind: str, hub: TestClient, network: Network, engine: Engine
) -> None:
    raw, reason = HOSTILE[kind]
    before = stored_counts(engine)
    with capture_logs() as logs:
        answer = hub.post(
            "/v1/reports",
            content=raw,
            headers={**network.auth("portal-nl"), "content-type": "application/json"},
        )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["field"] == "body"
    assert reason in error["reason"]
    assert "Patt" not in answer.text, "the answer must not quote the body"
    assert stored_counts(engine) == before
    assert any(e["event"] == "request_refused" and e["reasons"] for e in logs)


@pytest.mark.parametrize("kind", ["a duplicate key", "nesting 40 deep", "a huge integer"])
def test_hostile_bodies_are_refused_on_every_endpoint_that_takes_json(
    kind: str, hub: TestClient, network: Network, engine: Engine
) -> None:
    raw, _ = HOSTILE[kind]
    for path, party in [("/v1/receipts", "nl-police"), ("/v1/admin/credentials", "portal-nl")]:
        answer = hub.post(
            path, content=raw, headers={**network.auth(party), "content-type": "application/json"}
        )
        assert answer.status_code == 422, (path, answer.text)


def test_a_body_that_is_not_strict_json_is_refused_in_the_same_compact_form_as_every_problem(
    hub: TestClient, network: Network
) -> None:
    raw, _ = HOSTILE["a duplicate key"]
    strict = hub.post(
        "/v1/reports",
        content=raw,
        headers={**network.auth("portal-nl"), "content-type": "application/json"},
    )
    schema = hub.post(
        "/v1/reports", json={"source": "portal-nl"}, headers=network.auth("portal-nl")
    )
    for answer in (strict, schema):
        assert answer.status_code == 422
        assert answer.content == json.dumps(
            answer.json(), separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


def test_an_oversized_body_gets_413_on_every_endpoint(hub: TestClient, network: Network) -> None:
    raw = b'{"receipts": ["' + b"A" * (300 * 1024) + b'"]}'
    for path in ("/v1/reports", "/v1/receipts", "/v1/admin/credentials"):
        answer = hub.post(
            path,
            content=raw,
            headers={**network.auth("nl-police"), "content-type": "application/json"},
        )
        assert answer.status_code == 413, path


def test_huge_numbers_in_the_query_and_path_get_422(hub: TestClient, network: Network) -> None:
    answer = hub.get(f"/v1/inbox?limit={'9' * 5000}", headers=network.auth("nl-police"))
    assert answer.status_code == 422
    answer = hub.get("/v1/deliveries?limit=1e999", headers=network.auth("network-coordinator"))
    assert answer.status_code == 422
    answer = hub.get(
        f"/v1/reports/{'9' * 5000}/deliveries", headers=network.auth("network-coordinator")
    )
    assert answer.status_code == 422


def test_a_valid_report_sent_with_every_json_quirk_removed_is_still_accepted(
    hub: TestClient, network: Network
) -> None:
    answer = hub.post(
        "/v1/reports",
        content=_report_bytes(),
        headers={**network.auth("portal-nl"), "content-type": "application/json; charset=utf-8"},
    )
    assert answer.status_code == 202, answer.text


# -- the parsers, driven by hypothesis ------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**15), 10**15) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(raw=st.binary(max_size=600))
def test_the_strict_parser_takes_any_bytes_and_only_ever_refuses_with_invalid_input(
    raw: bytes,
) -> None:
    refused: list[str] = []
    try:
        loads_strict(raw)
    except InvalidInput as exc:
        refused = [e.field for e in exc.errors]
    assert refused in ([], ["body"])


@given(value=json_values)
def test_the_strict_parser_reads_ordinary_json_as_the_standard_library_does(value: Any) -> None:
    raw = json.dumps(value).encode()
    assert loads_strict(raw) == json.loads(raw)


def test_the_strict_parser_allows_exactly_its_depth() -> None:
    assert loads_strict(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    with pytest.raises(InvalidInput):
        loads_strict(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))


@given(raw=st.binary(max_size=600))
def test_the_report_schema_parser_takes_any_bytes_and_only_raises_validation_errors(
    raw: bytes,
) -> None:
    with pytest.raises(ValidationError):
        Report.model_validate_json(raw)


@ANY_FUZZ
@given(raw=st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_posted_as_a_report_or_receipts_get_a_4xx_and_store_nothing(
    raw: bytes, hub: TestClient, network: Network, engine: Engine
) -> None:
    before = stored_counts(engine)
    for path, party in [("/v1/reports", "portal-nl"), ("/v1/receipts", "nl-police")]:
        answer = hub.post(
            path, content=raw, headers={**network.auth(party), "content-type": "application/json"}
        )
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)
    assert stored_counts(engine) == before


@given(raw=st.binary(max_size=600))
def test_the_packet_parser_takes_any_bytes_as_an_envelope(raw: bytes) -> None:
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError:
        return
    assert ALICE.sealing is not None
    with pytest.raises(PacketInvalid):
        crypto.open_packet(envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)


def _signed(payload_type: str, payload: bytes, key: Any) -> Envelope:
    """An envelope over arbitrary bytes with a signature that verifies: the parser is reached."""
    signature = key.sign(crypto.pae(payload_type, payload)).signature
    return Envelope(
        payload=base64.b64encode(payload).decode(),
        payload_type=payload_type,
        signatures=[
            Signature(
                keyid=fingerprint("ed25519", bytes(key.verify_key)),
                sig=base64.b64encode(signature).decode(),
            )
        ],
    )


@given(payload=st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()))
def test_the_packet_parser_refuses_any_signed_bytes_that_are_not_a_packet(payload: bytes) -> None:
    assert ALICE.sealing is not None
    with pytest.raises(PacketInvalid):
        crypto.open_packet(
            _signed(PACKET_TYPE, payload, HUB.signing), hub_keys=HUB_TRUST, private=ALICE.sealing
        )


@given(payload=st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()))
def test_the_receipt_parser_refuses_any_signed_bytes_that_are_not_a_receipt(
    payload: bytes,
) -> None:
    with pytest.raises(PacketInvalid):
        crypto.verify_receipt(_signed(RECEIPT_TYPE, payload, ALICE.signing), ALICE_TRUST)


@ANY_FUZZ
@given(payload=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_signed_garbage_posted_as_a_receipt_gets_422_and_records_nothing(
    payload: bytes, hub: TestClient, network: Network, engine: Engine
) -> None:
    receipt = _signed(RECEIPT_TYPE, payload, network.keys("nl-police").signing)
    answer = hub.post(
        "/v1/receipts",
        json={"receipts": [receipt.model_dump(mode="json")]},
        headers=network.auth("nl-police"),
    )
    assert answer.status_code == 422, answer.text
    assert _delivered(engine) == 0


def _audit_size(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditEntryRow)).one())


def test_a_refused_batch_of_receipts_adds_one_audit_entry_however_many_it_holds(
    hub: TestClient, network: Network, engine: Engine
) -> None:
    garbage = _signed(RECEIPT_TYPE, b"{}", network.keys("nl-police").signing)
    batch = {"receipts": [garbage.model_dump(mode="json")] * 1000}
    before = _audit_size(engine)
    for _ in range(3):
        answer = hub.post("/v1/receipts", json=batch, headers=network.auth("nl-police"))
        assert answer.status_code == 422
    assert _audit_size(engine) - before == 3
    with Session(engine) as session:
        last = session.exec(
            select(AuditEntryRow).order_by(col(AuditEntryRow.leaf_index).desc())
        ).first()
    assert last is not None
    assert last.kind == "receipt_rejected"
    assert json.loads(last.entry)["event"]["count"] == 1000


def test_a_405_says_which_methods_the_path_allows(hub: TestClient, network: Network) -> None:
    answer = hub.get("/v1/receipts", headers=network.auth("nl-police"))
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_api_docs_pages_are_off_unless_asked_for_and_every_answer_has_a_csp(
    settings: Settings, network: Network, clock: Clock
) -> None:
    with TestClient(create_app(settings, clock=clock)) as client:
        docs = client.get("/docs")
        redoc = client.get("/redoc")
        spec = client.get("/openapi.json")
    assert (docs.status_code, redoc.status_code, spec.status_code) == (404, 404, 200)
    assert spec.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src" not in spec.headers["content-security-policy"]
    with TestClient(create_app(settings.model_copy(update={"api_docs": True}))) as client:
        docs = client.get("/docs")
    assert docs.status_code == 200
    assert "script-src https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


@pytest.mark.parametrize(
    "report_id",
    ["00000000-0000-0000-0000-000000000000", "6f1c1d3e-8f9a-1b6e-9c7d-2a4b5c6d7e8f"],
    ids=["nil", "version 1"],
)
def test_a_report_id_that_is_not_a_random_uuid_is_refused(
    report_id: str, hub: TestClient, network: Network, engine: Engine
) -> None:
    body = {**report_body("portal-nl"), "report_id": report_id}
    answer = hub.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["report_id"]
    assert stored_counts(engine) == (0, 0)


def test_error_paths_are_the_jsons_own_and_an_unknown_field_is_not_echoed(
    hub: TestClient, network: Network
) -> None:
    body = report_body("portal-nl")
    body["reporter"] = {
        "kind": "contact",
        "email": "not an address",
        "consent_to_contact": True,
        "preferred_language": "nl",
    }
    body["incident"]["victim_name_here"] = "x"
    answer = hub.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert {"field": "incident", "reason": "unknown field"} in errors
    assert "reporter.email" in [e["field"] for e in errors]
    assert "victim_name_here" not in answer.text


# -- no answer echoes what was sent ---------------------------------------------------------

MARK = "Qx7Marker"  # stands for report content: it must be nowhere in an answer


def _contact(**members: Any) -> dict[str, Any]:
    return {
        "kind": "contact",
        "email": "reporter@example.org",
        "consent_to_contact": True,
        "preferred_language": "nl",
        **members,
    }


# Each kind of schema error, with the marker in the value sent: (change, field, reason).
MARKED: dict[str, tuple[Any, str, str]] = {
    "a tag no union has": (
        lambda b: b.update(reporter={"kind": MARK}),
        "reporter.kind",
        "must be one of 'anonymous', 'contact'",
    ),
    "no tag": (lambda b: b.update(reporter={"name": MARK}), "reporter.kind", "required"),
    "a literal": (lambda b: b.update(schema_version=MARK), "schema_version", "must be 1"),
    "a literal true": (
        lambda b: b.update(reporter=_contact(consent_to_contact=MARK)),
        "reporter.consent_to_contact",
        "must be true",
    ),
    "an enum": (
        lambda b: b["incident"].update(place_kind=MARK),
        "incident.place_kind",
        "must be one of 'hotel', 'bar', 'beach', 'orphanage', 'street', 'private_home', "
        "'school', 'vehicle', 'online' or 'other'",
    ),
    "a pattern": (
        lambda b: b.update(reporter=_contact(email=MARK)),
        "reporter.email",
        "must match the pattern ^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
    ),
    "a UUID": (lambda b: b.update(report_id=MARK), "report_id", REPORT_ID_REASON),
    "a date": (
        lambda b: b["incident"].update(date_from=MARK),
        "incident.date_from",
        "must be a date (YYYY-MM-DD)",
    ),
    "a time": (
        lambda b: b.update(submitted_at=MARK),
        "submitted_at",
        "must be an RFC 3339 time with an offset",
    ),
    "a time without offset": (
        lambda b: b.update(submitted_at="2026-01-01T10:00:00"),
        "submitted_at",
        "must have a UTC offset (Z or +hh:mm)",
    ),
    "an integer": (
        lambda b: b["children"].update(count=MARK),
        "children.count",
        "must be an integer",
    ),
    "an object": (lambda b: b.update(incident=MARK), "incident", "must be an object"),
    "an array": (lambda b: b.update(suspects=MARK), "suspects", "must be an array"),
    "a string too long": (
        lambda b: b["incident"].update(place=MARK * 30),
        "incident.place",
        "must have at most 200 characters",
    ),
    "an unknown member": (lambda b: b["incident"].update({MARK: 1}), "incident", "unknown field"),
    "a country": (
        lambda b: b["incident"].update(country=MARK[:2].upper()),
        "incident.country",
        "not an ISO 3166-1 alpha-2 country code",
    ),
}


@pytest.mark.parametrize("kind", sorted(MARKED))
def test_a_422_names_the_field_and_a_fixed_reason_and_never_echoes_the_value_sent(
    kind: str, hub: TestClient, network: Network
) -> None:
    change, field, reason = MARKED[kind]
    body = report_body("portal-nl")
    change(body)
    answer = hub.post("/v1/reports", json=body, headers=network.auth("portal-nl"))
    assert answer.status_code == 422, answer.text
    assert {"field": field, "reason": reason} in answer.json()["errors"], answer.text
    assert MARK not in answer.text
    assert MARK[:2].upper() not in answer.text


def test_no_refusal_of_the_other_endpoints_echoes_the_value_sent(
    hub: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    with Session(engine) as session:
        register_administrator(session, "hostile-admin", "Administrator", clock())
        token = issue_credential(session, Role.administrator, "hostile-admin", clock())
        admin = {"Authorization": f"Bearer {token}"}
        session.commit()
    portal = {"id": MARK.lower(), "name": "A portal", "country": "FR"}
    assert hub.post("/v1/admin/sources", json=portal, headers=admin).status_code == 201
    answers = [
        hub.post("/v1/admin/sources", json=portal, headers=admin),
        hub.get(f"/v1/inbox?limit={MARK}", headers=network.auth("nl-police")),
        hub.post(
            "/v1/receipts",
            json={"receipts": [{"payload": MARK, "payloadType": MARK, "signatures": MARK}]},
            headers=network.auth("nl-police"),
        ),
        hub.post(
            "/v1/admin/credentials",
            json={"role": MARK, "principal_id": MARK, MARK: 1},
            headers=admin,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert MARK.lower() not in answer.text.lower(), answer.text
