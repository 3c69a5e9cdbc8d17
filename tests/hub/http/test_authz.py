"""The authorisation matrix, generated from the table in hub/http/authz.py.

Every route of the real app is one row: it is called as every party (source, section, police,
coordinator, administrator) and with no, a non-Bearer, a malformed, an unknown, an expired and a
revoked credential. Each call must get exactly the status the table implies, must not leak
report content, tokens, token hashes, webhook secrets, private keys or another party's ids, and,
when refused (or when the endpoint only reads), must leave the database as it was.

A route added to the app without a line in hub/http/authz.py's TABLE, or without a request in
REQUESTS below, fails its row here by name.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from nacl.public import PublicKey
from nacl.signing import SigningKey
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel, select

from connectors.recipient.forward import seal_forward
from hub.audit import log as audit
from hub.crypto import open_packet, sign_receipt
from hub.http import authz
from hub.http.app import create_app
from hub.http.authz import Party
from hub.network.credentials import (
    Role,
    issue,
    issue_credential,
    register_administrator,
    token_hash,
)
from hub.network.directory import DeliveryMode, set_delivery_mode
from hub.network.keyring import create_hub_keys, load_webhook_key
from hub.settings import Settings
from hub.store import CredentialRow, DeliveryRow, ReportRow, make_engine
from schemas.commitment import ForwardAdditions
from schemas.envelope import Envelope, PacketBody
from tests.conftest import ROOT, Clock, Network, admin_sql, provision
from tests.factories import copies_at_once_policy, report_body
from tests.postgres import PostgresServer

MARKER = "AUTHZ-MATRIX-MARKER-7f3a"  # in every report's free text: must never come back
PRINCIPAL = {
    Party.source: "portal-nl",
    Party.section: "nl-section",
    Party.police: "nl-police",
    Party.coordinator: "network-coordinator",
    Party.administrator: "matrix-admin",
}
ROLE = {Party.source: Role.source, Party.administrator: Role.administrator}
BAD_CREDENTIALS = ("none", "not-bearer", "malformed", "unknown", "expired", "revoked")
CALLERS: tuple[str, ...] = (*BAD_CREDENTIALS, *(p.value for p in Party))
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"matrix-webhook-secret-32-bytes!!").decode()


@dataclass(frozen=True)
class Call:
    """One request, valid for the party it was built for, and the status that party gets."""

    method: str
    url: str
    ok: int = 200
    json: Any = None


@dataclass
class World:
    """The demo network at the hub, with a report or two, an administrator and spoilt tokens."""

    client: TestClient
    network: Network
    engine: Engine
    clock: Clock
    tokens: dict[Party, str] = field(default_factory=dict)
    spoilt: dict[tuple[str, Party], str] = field(default_factory=dict)

    def token(self, party: Party) -> str:
        if party is Party.administrator:
            return self.tokens[party]
        return self.network.token(PRINCIPAL[party])

    def headers(self, caller: str, party: Party | None) -> dict[str, str]:
        """The Authorization header `caller` sends; spoilt ones belong to `party`."""
        if caller == "none":
            return {}
        if caller == "not-bearer":
            return {"Authorization": "Basic " + base64.b64encode(b"portal-nl:secret").decode()}
        if caller == "malformed":
            return {"Authorization": "Bearer hubsrc_not-a-token"}
        if caller == "unknown":
            return {"Authorization": "Bearer hubsrc_" + secrets.token_urlsafe(32)}
        if caller in ("expired", "revoked"):
            return {"Authorization": f"Bearer {self.spoilt[(caller, party or Party.source)]}"}
        return {"Authorization": f"Bearer {self.token(Party(caller))}"}

    def call(self, call: Call, headers: dict[str, str]) -> Response:
        return self.client.request(call.method, call.url, json=call.json, headers=headers)

    def submit(self, **kwargs: Any) -> dict[str, Any]:
        body = report_body(free_text=MARKER, **kwargs)
        answer = self.client.post(
            "/v1/reports", json=body, headers=self.network.auth(body["source"])
        )
        assert answer.status_code == 202, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def snapshot(self, *, skip_audit: bool) -> dict[str, list[str]]:
        """Every row of every table (an allowed read may add to the audit log: its purpose)."""
        rows: dict[str, list[str]] = {}
        with self.engine.connect() as connection:
            for table in SQLModel.metadata.sorted_tables:
                if skip_audit and table.name.startswith("audit"):
                    continue
                result = connection.execute(text(f"SELECT * FROM {table.name}"))  # noqa: S608
                rows[table.name] = sorted(repr(tuple(row)) for row in result)
        return rows

    def secrets(self) -> list[str]:
        """What must never appear in any answer."""
        found = [MARKER, WEBHOOK_SECRET, *self.tokens.values(), *self.spoilt.values()]
        found += [self.network.token(p["id"]) for p in self.network.listing["sources"]]
        found += [self.network.token(r) for r in self.network.recipient_ids]
        for recipient in self.network.recipient_ids:
            private = self.network.keys(recipient)
            assert private.sealing is not None
            found += [
                base64.b64encode(bytes(key)).decode() for key in (private.sealing, private.signing)
            ]
        with self.session() as session:
            found += [row.token_hash for row in session.exec(select(CredentialRow)).all()]
        return found

    def foreign_ids(self, party: Party) -> set[str]:
        """Ids of what belongs to others than `party`'s principal, for an `own` scope."""
        me = PRINCIPAL[party]
        with self.session() as session:
            if party is Party.source:
                reports = session.exec(select(ReportRow).where(ReportRow.source_id != me)).all()
                return {row.id for row in reports}
            rows = session.exec(select(DeliveryRow).where(DeliveryRow.recipient_id != me)).all()
            return {row.packet_id for row in rows}


def _matrix_database(
    engine_name: str, template: str, folder: Path, request: pytest.FixtureRequest
) -> str:
    """A fresh migrated database, as conftest's `database_url` makes one, for a whole module."""
    if engine_name == "sqlite":
        shutil.copyfile(template, folder / "hub.db")
        return f"sqlite:///{folder / 'hub.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"m_{uuid4().hex}"
    admin_sql(server, f"CREATE DATABASE {name} TEMPLATE {template}")
    return server.url(name)


@pytest.fixture(scope="module")
def world(
    engine_name: str,
    migrated_template: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[World]:
    """One hub per engine for the whole matrix; each row makes the data its calls need."""
    folder = tmp_path_factory.mktemp("matrix")
    (folder / "hub-data").mkdir()
    # No background jobs: a push round must not change the database between two snapshots.
    settings = Settings(
        data_dir=folder / "hub-data",
        database_url=_matrix_database(engine_name, migrated_template, folder, request),
        routing_policy=copies_at_once_policy(folder),
        scheduler=False,
        intake_rate_limit="100000/minute",
        receipts_rate_limit="100000/minute",
        inbox_rate_limit="100000/minute",
        api_docs=True,
    )
    create_hub_keys(settings)
    network = provision(settings, folder / "parties", "http://127.0.0.1:9")
    clock = Clock()
    engine = make_engine(settings.resolved_database_url)
    now = clock()
    with TestClient(create_app(settings, clock=clock), raise_server_exceptions=False) as client:
        world = World(client=client, network=network, engine=engine, clock=clock)
        with world.session() as session:
            register_administrator(session, PRINCIPAL[Party.administrator], "Matrix admin", now)
            world.tokens[Party.administrator] = issue_credential(
                session, Role.administrator, PRINCIPAL[Party.administrator], now
            )
            for party in Party:
                role = ROLE.get(party, Role.recipient)
                world.spoilt[("expired", party)] = issue_credential(
                    session, role, PRINCIPAL[party], now, expires_at=now
                )
                world.spoilt[("revoked", party)] = issue_credential(
                    session, role, PRINCIPAL[party], now
                )
            session.flush()
            revoked = {token_hash(world.spoilt[("revoked", party)]) for party in Party}
            for row in session.exec(select(CredentialRow)).all():
                if row.token_hash in revoked:
                    row.revoked_at = now
                    session.add(row)
            set_delivery_mode(
                session,
                "at-police",
                DeliveryMode.push,
                push_url="http://127.0.0.1:9/packets",
                webhook_secret=WEBHOOK_SECRET,
                webhook_key=load_webhook_key(settings),
            )
            session.commit()
        clock.advance(seconds=1)
        world.submit(source="portal-nl", nationalities=("NL",))
        world.submit(source="portal-at", nationalities=("AT",))
        world.submit(source="portal-nl", country="TH", nationalities=("TH",))  # + coordinator
        yield world
    engine.dispose()


# -- one valid request per endpoint, for the party it is built for ---------------------------


def _recipient_packet(world: World, party: Party) -> Envelope:
    """A packet just leased to `party`'s recipient."""
    recipient = PRINCIPAL[party]
    nationality = {"nl-section": "NL", "nl-police": "NL"}.get(recipient, "TH")
    world.submit(source="portal-nl", country="TH", nationalities=(nationality,))
    answer = world.client.get("/v1/inbox", headers=world.network.auth(recipient))
    assert answer.status_code == 200, answer.text
    return Envelope.model_validate(answer.json()["packets"][0])


def _receipt(world: World, party: Party | None) -> Call:
    party = party or Party.section
    packet = _recipient_packet(world, party)
    keys = world.network.keys(PRINCIPAL[party])
    assert keys.sealing is not None
    opened = open_packet(packet, hub_keys=world.network.hub_trust(), private=keys.sealing)
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=world.clock(),
        key=keys.signing,
    )
    return Call("POST", "/v1/receipts", json={"receipts": [receipt.model_dump(mode="json")]})


def _inbox(world: World, party: Party | None) -> Call:
    party = party or Party.section
    recipient = PRINCIPAL[party]
    nationality = {"nl-section": "NL", "nl-police": "NL"}.get(recipient, "TH")
    world.submit(source="portal-nl", country="TH", nationalities=(nationality,))
    return Call("GET", "/v1/inbox")


def _report_id(world: World) -> str:
    with world.session() as session:
        row = session.exec(select(ReportRow).order_by(ReportRow.accepted_at)).first()  # type: ignore[arg-type]
        assert row is not None
        return row.id


def _dead_packet(world: World) -> str:
    """A delivery made dead by hand, as the push worker would after a 4xx."""
    report_id = world.submit(source="portal-at", nationalities=("AT",))["report_id"]
    with world.session() as session:
        row = session.exec(select(DeliveryRow).where(DeliveryRow.report_id == report_id)).first()
        assert row is not None
        row.state, row.dead_at, row.last_error = "dead", world.clock(), "HTTP 410"
        session.add(row)
        session.commit()
        return row.packet_id


def _victim_credential(world: World) -> str:
    with world.session() as session:
        return issue(session, Role.source, "portal-be", world.clock()).credential.credential_id


Builder = Callable[[World, Party | None], Call]


def _signed_log(world: World, path: str) -> Call:
    """A call to `path` with a signed tree head and a verification on record first (the matrix
    runs without the background jobs that make them)."""
    with world.session() as session:
        audit.sign_tree_head(session, key=SigningKey.generate(), now=world.clock())
        audit.record_check(
            session,
            audit.AuditCheck(
                checked_at=world.clock(),
                checked_by="matrix",
                tree_size=1,
                verified=True,
                problems=[],
            ),
        )
    return Call("GET", path)


def _receipted_report(world: World, party: Party | None) -> str:
    """A report whose packet `party`'s recipient has pulled and receipted."""
    party = party or Party.section
    call = _receipt(world, party)
    answer = world.call(call, world.network.auth(PRINCIPAL[party]))
    assert answer.status_code == 200, answer.text
    envelope = Envelope.model_validate(call.json["receipts"][0])
    packet_id = json.loads(base64.b64decode(envelope.payload))["packet_id"]
    return _report_of(world, packet_id)


def _report_of(world: World, packet_id: str) -> str:
    with world.session() as session:
        row = session.get(DeliveryRow, packet_id)
        assert row is not None
        return row.report_id


def _forward(world: World, party: Party | None) -> Call:
    """A forward, signed by `party`'s recipient, of a report it received, to its colleague."""
    party = party or Party.section
    _recipient_packet(world, party)
    world.clock.advance(seconds=301)  # past the lease: every pending packet is offered again
    leased = world.client.get("/v1/inbox", headers=world.network.auth(PRINCIPAL[party]))
    keys = world.network.keys(PRINCIPAL[party])
    assert keys.sealing is not None
    opened = next(
        open_packet(envelope, hub_keys=world.network.hub_trust(), private=keys.sealing)
        for envelope in (Envelope.model_validate(p) for p in leased.json()["packets"])
        if not PacketBody.model_validate_json(base64.b64decode(envelope.payload)).forwarded
    )
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=world.clock(),
        key=keys.signing,
    )
    answer = world.client.post(
        "/v1/receipts",
        json={"receipts": [receipt.model_dump(mode="json")]},
        headers=world.network.auth(PRINCIPAL[party]),
    )
    assert answer.status_code == 200, answer.text
    target = "nl-police" if party is Party.section else "nl-section"
    request = seal_forward(
        opened,
        signing_key=keys.signing,
        to_recipient_id=target,
        to_key=_sealing_key(world, target),
        withheld=[],
        additions=ForwardAdditions(classification="matrix"),
        now=world.clock(),
    )
    return Call("POST", "/v1/forwards", ok=202, json=request.model_dump(mode="json"))


def _sealing_key(world: World, recipient: str) -> PublicKey:
    keys = world.network.keys(recipient)
    assert keys.sealing is not None
    return keys.sealing.public_key


def _dashboard(path: str, ok: int = 200) -> Builder:
    return lambda _world, _party: Call("GET", path, ok=ok)


OVERSIGHT: dict[tuple[str, str], Builder] = {
    ("GET", "/v1/deliveries/summary"): _dashboard("/v1/deliveries/summary"),
    ("GET", "/v1/deliveries/open"): _dashboard("/v1/deliveries/open"),
    ("GET", "/v1/deliveries/latency"): _dashboard("/v1/deliveries/latency"),
    ("GET", "/v1/reports/annual"): _dashboard("/v1/reports/annual"),
    ("GET", "/v1/audit/tree-head"): lambda w, p: _signed_log(w, "/v1/audit/tree-head"),
    ("GET", "/v1/audit/tree-heads"): _dashboard("/v1/audit/tree-heads"),
    ("GET", "/v1/audit/entries"): _dashboard("/v1/audit/entries?start=0&limit=5"),
    ("GET", "/v1/audit/proof/inclusion"): lambda w, p: _signed_log(
        w, "/v1/audit/proof/inclusion?leaf_index=0"
    ),
    ("GET", "/v1/audit/proof/consistency"): lambda w, p: _signed_log(
        w, "/v1/audit/proof/consistency?first=1"
    ),
    ("GET", "/v1/audit/verification"): lambda w, p: _signed_log(w, "/v1/audit/verification"),
    ("GET", "/v1/compliance"): _dashboard("/v1/compliance"),
    ("POST", "/v1/declarations"): lambda w, p: Call(
        "POST",
        "/v1/declarations",
        ok=201,
        json={"criterion": "S5", "stated_on": w.clock().date().isoformat()},
    ),
    ("GET", "/v1/reports/{report_id}/inclusion"): lambda w, p: _signed_log(
        w, f"/v1/reports/{w.submit(source='portal-nl')['report_id']}/inclusion"
    ),
    ("GET", "/v1/reports/{report_id}/status"): lambda w, p: Call(
        "GET", f"/v1/reports/{w.submit(source='portal-nl')['report_id']}/status"
    ),
    ("POST", "/v1/reports/{report_id}/outcome"): lambda w, p: Call(
        "POST",
        f"/v1/reports/{_receipted_report(w, p)}/outcome",
        json={"outcome": "forwarded_to_investigators"},
    ),
    ("POST", "/v1/reports/{report_id}/triage"): lambda w, p: Call(
        "POST",
        f"/v1/reports/{_receipted_report(w, p)}/triage",
        ok=201,
        json={
            "decision": "close",
            "classification": "not_within_scope",
            "reason_code": "not_within_scope",
            "decided_at": w.clock().isoformat(),
        },
    ),
    ("GET", "/v1/processing-times"): _dashboard("/v1/processing-times"),
    # The dashboard's pages: a coordinator's bearer token works as its login session does.
    ("GET", "/dashboard/login"): _dashboard("/dashboard/login"),
    ("POST", "/dashboard/login"): lambda w, p: Call("POST", "/dashboard/login", ok=400),
    ("GET", "/dashboard/static/dashboard.css"): _dashboard("/dashboard/static/dashboard.css"),
    ("POST", "/dashboard/logout"): lambda w, p: Call("POST", "/dashboard/logout"),
    ("GET", "/dashboard"): _dashboard("/dashboard"),
    ("GET", "/dashboard/"): _dashboard("/dashboard/"),
    ("GET", "/dashboard/deliveries"): _dashboard("/dashboard/deliveries"),
    ("POST", "/dashboard/deliveries/{packet_id}/retry"): lambda w, p: Call(
        "POST", f"/dashboard/deliveries/{_dead_packet(w)}/retry"
    ),
    ("GET", "/dashboard/latency"): _dashboard("/dashboard/latency"),
    ("GET", "/dashboard/quality"): _dashboard("/dashboard/quality"),
    ("GET", "/dashboard/audit"): _dashboard("/dashboard/audit"),
    ("GET", "/dashboard/annual"): _dashboard("/dashboard/annual"),
}


def _public(path: str) -> Builder:
    return lambda _world, _party: Call("GET", path)


REQUESTS: dict[tuple[str, str], Builder] = {
    ("POST", "/v1/reports"): lambda w, p: Call(
        "POST", "/v1/reports", ok=202, json=report_body("portal-nl", free_text=MARKER)
    ),
    ("GET", "/v1/reseal-requests"): lambda w, p: Call("GET", "/v1/reseal-requests"),
    ("GET", "/v1/inbox"): _inbox,
    ("POST", "/v1/receipts"): _receipt,
    ("GET", "/v1/forward-targets"): lambda w, p: Call("GET", "/v1/forward-targets"),
    ("POST", "/v1/forwards"): _forward,
    ("POST", "/v1/reports/{report_id}/deletion"): lambda w, p: Call(
        "POST",
        f"/v1/reports/{_receipted_report(w, p)}/deletion",
        json={"deleted_at": w.clock().isoformat()},
    ),
    ("GET", "/v1/reports/{report_id}/deliveries"): lambda w, p: Call(
        "GET", f"/v1/reports/{_report_id(w)}/deliveries"
    ),
    ("GET", "/v1/reports/{report_id}/evidence"): lambda w, p: Call(
        "GET", f"/v1/reports/{_report_id(w)}/evidence"
    ),
    ("GET", "/v1/deliveries"): lambda w, p: Call("GET", "/v1/deliveries?state=pending"),
    ("POST", "/v1/deliveries/{packet_id}/retry"): lambda w, p: Call(
        "POST", f"/v1/deliveries/{_dead_packet(w)}/retry"
    ),
    ("GET", "/v1/admin/credentials"): lambda w, p: Call("GET", "/v1/admin/credentials"),
    ("POST", "/v1/admin/credentials"): lambda w, p: Call(
        "POST",
        "/v1/admin/credentials",
        ok=201,
        json={"role": "source", "principal_id": "portal-be"},
    ),
    ("POST", "/v1/admin/credentials/{credential_id}/revoke"): lambda w, p: Call(
        "POST", f"/v1/admin/credentials/{_victim_credential(w)}/revoke"
    ),
    ("POST", "/v1/admin/credentials/{credential_id}/rotate"): lambda w, p: Call(
        "POST", f"/v1/admin/credentials/{_victim_credential(w)}/rotate", ok=201, json={}
    ),
    ("GET", "/v1/admin/recipients"): lambda w, p: Call("GET", "/v1/admin/recipients"),
    ("POST", "/v1/admin/sources"): lambda w, p: Call(
        "POST",
        "/v1/admin/sources",
        ok=201,
        json={"id": f"portal-{uuid4().hex[:8]}", "name": "A new portal", "country": "FR"},
    ),
    **OVERSIGHT,
    **{
        ("GET", path): _public(path)
        for path in (
            "/v1/hub/keys",
            "/.well-known/ctt-hub-keys.json",
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
        )
    },
}


def _app_routes() -> list[tuple[str, str]]:
    """The real app's routes, as the hub builds it (nothing starts before its lifespan)."""
    app = create_app(Settings(data_dir=ROOT / "var" / "unused", api_docs=True))
    return authz.route_keys(app.routes)


ROWS = sorted(set(_app_routes()) | {endpoint.key for endpoint in authz.TABLE})


def test_every_route_of_the_app_is_in_the_table_and_every_entry_is_a_route() -> None:
    app_routes = set(_app_routes())
    unlisted = sorted(app_routes - {e.key for e in authz.TABLE})
    assert not unlisted, f"add these routes to TABLE in hub/http/authz.py: {unlisted}"
    stale = sorted({e.key for e in authz.TABLE} - app_routes)
    assert not stale, f"TABLE in hub/http/authz.py lists routes the app does not have: {stale}"


def _expected(endpoint: authz.Endpoint, caller: str, ok: int) -> int:
    if endpoint.public:
        return ok
    if caller in BAD_CREDENTIALS:
        return 401
    return ok if Party(caller) in endpoint.grants else 403


def _check_no_leak(world: World, answer: Response, where: str, allowed: set[str]) -> None:
    body = answer.text
    for secret in world.secrets():
        if secret not in allowed:
            assert secret not in body, f"{where}: the answer holds a secret"


def _check_own(world: World, party: Party, answer: Response, where: str) -> None:
    body = answer.text
    leaked = [foreign for foreign in world.foreign_ids(party) if foreign in body]
    assert not leaked, f"{where}: the answer names another party's data: {leaked}"
    if answer.request.url.path == "/v1/inbox":
        for packet in answer.json()["packets"]:
            payload = PacketBody.model_validate_json(base64.b64decode(packet["payload"]))
            assert payload.recipient_id == PRINCIPAL[party], f"{where}: another's packet"


@pytest.mark.parametrize("key", ROWS, ids=[f"{m} {p}" for m, p in ROWS])
def test_each_endpoint_answers_each_caller_exactly_as_the_table_says(
    key: tuple[str, str], world: World, security_figures: dict[str, int]
) -> None:
    endpoint = authz.endpoint_for(*key)  # NotInTable: add the route to TABLE in hub/http/authz.py
    assert key in REQUESTS, f"add a request for {key} to REQUESTS in {__file__}"
    build = REQUESTS[key]
    first_allowed = next(iter(endpoint.grants), None)
    for caller in CALLERS:
        party = Party(caller) if caller in Party.__members__ else None
        request_party = party if party in endpoint.grants else first_allowed
        call = build(world, request_party)
        where = f"{key[0]} {key[1]} as {caller}"
        expected = _expected(endpoint, caller, call.ok)
        refused = expected in (401, 403)
        before = world.snapshot(skip_audit=not refused)
        answer = world.call(call, world.headers(caller, request_party))
        assert answer.status_code == expected, f"{where}: {answer.status_code} {answer.text}"
        if refused:
            assert answer.headers["content-type"] == "application/problem+json", where
            if expected == 401:
                assert answer.headers["www-authenticate"] == "Bearer", where
        minted = (
            {answer.json()["token"]}
            if answer.status_code == 201 and "token" in answer.text
            else set()
        )
        _check_no_leak(world, answer, where, minted)
        if refused or not endpoint.writes:
            assert world.snapshot(skip_audit=not refused) == before, f"{where}: data changed"
        if party is not None and endpoint.grants.get(party) is authz.Scope.own:
            _check_own(world, party, answer, where)
        security_figures["authorization matrix calls checked"] = (
            security_figures.get("authorization matrix calls checked", 0) + 1
        )


def test_the_openapi_document_asks_for_a_token_exactly_where_the_table_does(
    world: World,
) -> None:
    document = world.client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            endpoint = authz.endpoint_for(method.upper(), path)
            secured = bool(operation.get("security"))
            assert secured != endpoint.public, f"{method.upper()} {path}"


def test_the_threat_model_holds_the_table_as_it_is_in_the_code() -> None:
    doc = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")
    # The whole block between the markers, so that a table that lost its rows does not match.
    block = doc.split("<!-- authz-table -->\n", 1)[1].split("<!-- /authz-table -->\n", 1)[0]
    assert block == authz.render_markdown(), "run `python -m hub.http.authz docs/threat-model.md`"
    for endpoint in authz.TABLE:
        assert f"| `{endpoint.method} {endpoint.path}` |" in block


def test_an_endpoint_is_public_or_has_grants_and_its_grants_cannot_be_changed() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        authz.Endpoint("GET", "/v1/both", grants={Party.source: authz.Scope.own}, public=True)
    with pytest.raises(ValueError, match="exactly one"):
        authz.Endpoint("GET", "/v1/neither")
    grants = {Party.source: authz.Scope.own}
    endpoint = authz.Endpoint("GET", "/v1/reports", grants=grants)
    grants[Party.administrator] = authz.Scope.directory  # the caller's dict, changed later
    assert dict(endpoint.grants) == {Party.source: authz.Scope.own}
    with pytest.raises(TypeError):
        endpoint.grants[Party.police] = authz.Scope.own  # type: ignore[index]
    assert authz.Endpoint("GET", "/healthz", public=True).public


def test_a_route_missing_from_the_table_is_refused_to_everybody(
    settings: Settings, network: Network
) -> None:
    app = create_app(settings.model_copy(update={"scheduler": False}))

    @app.get("/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "should never be served"}

    with TestClient(app, raise_server_exceptions=False) as client:
        for headers in ({}, network.auth("network-coordinator"), network.auth("portal-nl")):
            answer = client.get("/v1/forgotten", headers=headers)
            assert answer.status_code == 403
            assert "should never" not in answer.text
    assert authz.unlisted_routes(app.routes) == [("GET", "/v1/forgotten")]


def test_the_table_names_no_party_it_does_not_know_and_no_path_twice() -> None:
    keys = [endpoint.key for endpoint in authz.TABLE]
    assert len(keys) == len(set(keys))
    for endpoint in authz.TABLE:
        assert set(endpoint.grants) <= set(Party)
    assert set(CALLERS) >= {p.value for p in Party}


def test_the_table_keeps_the_promises_of_the_threat_model() -> None:
    """What the matrix cannot see, since it follows the table: the table's own shape."""
    granted = [(e, party, scope) for e in authz.TABLE for party, scope in e.grants.items()]
    # Packets go to recipients only, each to its own.
    inbox = authz.endpoint_for("GET", "/v1/inbox")
    assert dict(inbox.grants) == dict.fromkeys(
        (Party.section, Party.police, Party.coordinator), authz.Scope.own
    )
    for endpoint, party, scope in granted:
        where = f"{endpoint.method} {endpoint.path} for {party.value}"
        # Sources and recipients reach their own data only.
        if party in (Party.source, Party.section, Party.police):
            assert scope is authz.Scope.own, where
        # Network metadata is the coordinators' alone; the directory the administrators'.
        if scope is authz.Scope.network:
            assert party is Party.coordinator, where
        if party is Party.administrator:
            assert scope is authz.Scope.directory, where
            assert endpoint.path.startswith("/v1/admin/"), where
        if scope is authz.Scope.directory:
            assert party is Party.administrator, where
