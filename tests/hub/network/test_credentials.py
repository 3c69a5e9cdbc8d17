"""Credentials: prefixed random tokens, kept as hashes, compared in constant time; expiry,
revocation and rotation by `hub credentials` and by administrators over the API; never logged."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from hub.cli.main import app
from hub.errors import Forbidden, NotAuthenticated, NotFound
from hub.logs import configure_logging
from hub.network.credentials import (
    Principal,
    Role,
    authenticate,
    credential_id_of,
    credential_info,
    issue,
    issue_credential,
    list_credentials,
    register_administrator,
    revoke_credential,
    rotate_credential,
    token_hash,
)
from hub.settings import Settings
from hub.store import (
    AdministratorRow,
    CredentialRow,
    RecipientRow,
    alembic_config,
    make_engine,
    upgrade,
)
from tests.conftest import Clock, Network
from tests.factories import report_body

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def operator(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI pointed at the test's hub by its environment, as an operator's shell would be."""
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    return CliRunner()


def admin_token(engine: Engine, clock: Clock) -> str:
    with Session(engine) as session:
        register_administrator(session, "alice", "Alice", clock())
        session.commit()
        return issue(session, Role.administrator, "alice", clock()).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_each_role_has_its_prefix_256_random_bits_and_only_the_hash_is_stored(
    engine: Engine, network: Network
) -> None:
    with Session(engine) as session:
        register_administrator(session, "alice", "Alice", NOW)
        tokens = {
            role: issue(session, role, principal, NOW).token
            for role, principal in [
                (Role.source, "portal-nl"),
                (Role.recipient, "nl-police"),
                (Role.administrator, "alice"),
            ]
        }
        stored = session.exec(select(CredentialRow)).all()
    assert tokens[Role.source].startswith("hubsrc_")
    assert tokens[Role.recipient].startswith("hubrcp_")
    assert tokens[Role.administrator].startswith("hubadm_")
    assert all(len(t.split("_", 1)[1]) == 43 for t in tokens.values())  # 32 bytes, base64url
    columns = {repr(value) for row in stored for value in row.model_dump().values()}
    for token in tokens.values():
        assert not any(token in column for column in columns)
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert any(row.token_hash == digest for row in stored)
        assert any(row.credential_id == f"cred-{digest[:16]}" for row in stored)


def test_the_stored_hash_is_compared_in_constant_time(
    engine: Engine, network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with Session(engine) as session:
        authenticate(session, network.token("portal-nl"), now=NOW)
    assert len(compared) == 1


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda t: "hubsrc_short", "malformed"),
        (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), "unknown"),
        (lambda t: "hubrcp_" + t.split("_", 1)[1], "unknown"),
    ],
)
def test_a_malformed_or_unknown_token_is_refused_and_the_log_says_why_without_the_token(
    engine: Engine, network: Network, spoil: Any, reason: str
) -> None:
    token = spoil(network.token("portal-nl"))
    with (
        Session(engine) as session,
        capture_logs() as logs,
        pytest.raises(NotAuthenticated) as refused,
    ):
        authenticate(session, token, now=NOW)
    assert str(refused.value) == "unknown, expired or revoked credential"
    [event] = [e for e in logs if e["event"] == "authentication_failed"]
    assert event["reason"] == reason
    assert token not in repr(logs)


def test_an_expired_credential_stops_working_at_its_expiry(
    engine: Engine, network: Network
) -> None:
    with Session(engine) as session:
        issued = issue(session, Role.source, "portal-nl", NOW, expires_at=NOW + timedelta(hours=1))
        assert (
            authenticate(session, issued.token, now=NOW + timedelta(minutes=59)).id == "portal-nl"
        )
        with capture_logs() as logs, pytest.raises(NotAuthenticated):
            authenticate(session, issued.token, now=NOW + timedelta(hours=1))
    assert logs[-1]["reason"] == "expired"
    assert logs[-1]["credential_id"] == issued.credential.credential_id


def test_a_revoked_credential_is_refused_at_once_over_the_api(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    admin = admin_token(engine, clock)
    token = network.token("portal-nl")
    [info] = client.get(
        "/v1/admin/credentials?principal_id=portal-nl", headers=bearer(admin)
    ).json()
    assert "token" not in info
    assert "token_hash" not in info
    revoked = client.post(
        f"/v1/admin/credentials/{info['credential_id']}/revoke", headers=bearer(admin)
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    answer = client.post("/v1/reports", json=report_body("portal-nl"), headers=bearer(token))
    assert answer.status_code == 401


def test_a_rotated_credential_works_beside_the_new_one_for_the_overlap_only(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    admin = admin_token(engine, clock)
    old = network.token("nl-police")
    [info] = client.get(
        "/v1/admin/credentials?principal_id=nl-police", headers=bearer(admin)
    ).json()
    rotated = client.post(
        f"/v1/admin/credentials/{info['credential_id']}/rotate",
        json={"overlap_seconds": 600},
        headers=bearer(admin),
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["token"]
    assert new.startswith("hubrcp_")
    assert new != old
    assert rotated.json()["credential"]["principal_id"] == "nl-police"
    assert client.get("/v1/inbox", headers=bearer(old)).status_code == 200
    assert client.get("/v1/inbox", headers=bearer(new)).status_code == 200
    clock.advance(seconds=601)
    assert client.get("/v1/inbox", headers=bearer(old)).status_code == 401
    assert client.get("/v1/inbox", headers=bearer(new)).status_code == 200


def test_only_a_live_credential_can_be_rotated(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    admin = admin_token(engine, clock)
    [info] = client.get(
        "/v1/admin/credentials?principal_id=nl-police", headers=bearer(admin)
    ).json()
    rotate = f"/v1/admin/credentials/{info['credential_id']}/rotate"
    first = client.post(rotate, json={"overlap_seconds": 600}, headers=bearer(admin))
    assert first.status_code == 201, first.text
    again = client.post(rotate, json={"overlap_seconds": 600}, headers=bearer(admin))
    assert again.status_code == 403, "an already-rotated credential mints no second successor"
    brief = client.post(
        "/v1/admin/credentials",
        json={"role": "recipient", "principal_id": "nl-police", "expires_in_seconds": 60},
        headers=bearer(admin),
    ).json()["credential"]["credential_id"]
    clock.advance(seconds=61)
    expired = client.post(f"/v1/admin/credentials/{brief}/rotate", json={}, headers=bearer(admin))
    assert expired.status_code == 403, "an expired credential is not brought back to life"
    names = [
        c["credential_id"]
        for c in client.get(
            "/v1/admin/credentials?principal_id=nl-police", headers=bearer(admin)
        ).json()
    ]
    assert len(names) == 3, "only the first rotation issued a credential"


def test_the_api_never_mints_an_administrator_credential(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    admin = admin_token(engine, clock)
    minted = client.post(
        "/v1/admin/credentials",
        json={"role": "administrator", "principal_id": "alice"},
        headers=bearer(admin),
    )
    assert minted.status_code == 422
    [info] = client.get("/v1/admin/credentials?principal_id=alice", headers=bearer(admin)).json()
    rotated = client.post(
        f"/v1/admin/credentials/{info['credential_id']}/rotate", json={}, headers=bearer(admin)
    )
    assert rotated.status_code == 403


def test_a_credential_for_nobody_is_not_issued(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    admin = admin_token(engine, clock)
    answer = client.post(
        "/v1/admin/credentials",
        json={"role": "recipient", "principal_id": "fr-police"},
        headers=bearer(admin),
    )
    assert answer.status_code == 404


def test_hub_credentials_issue_list_rotate_and_revoke(
    operator: CliRunner, network: Network, settings: Settings, tmp_path: Path
) -> None:
    token_file = tmp_path / "tokens" / "alice.txt"
    issued = operator.invoke(
        app, ["credentials", "issue", "administrator", "alice", "--out", str(token_file)]
    )
    assert issued.exit_code == 0, issued.output
    assert "administrator alice registered" in issued.output
    token = token_file.read_text().strip()
    assert token.startswith("hubadm_")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert "then delete it from this server" in issued.output
    assert token not in issued.output
    credential_id = f"cred-{hashlib.sha256(token.encode()).hexdigest()[:16]}"
    assert credential_id in issued.output

    again = operator.invoke(
        app, ["credentials", "issue", "administrator", "alice", "--out", str(token_file)]
    )
    assert again.exit_code != 0, "a token file is never overwritten"

    listed = operator.invoke(app, ["credentials", "list", "--principal", "alice"])
    assert credential_id in listed.output
    assert token not in listed.output
    assert hashlib.sha256(token.encode()).hexdigest() not in listed.output

    new_file = tmp_path / "tokens" / "alice-2.txt"
    rotated = operator.invoke(
        app,
        ["credentials", "rotate", credential_id, "--out", str(new_file), "--overlap-hours", "0"],
    )
    assert rotated.exit_code == 0, rotated.output
    new_token = new_file.read_text().strip()
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        assert authenticate(session, new_token, now=datetime.now(UTC)).id == "alice"
        with pytest.raises(NotAuthenticated):
            authenticate(session, token, now=datetime.now(UTC))
    new_id = f"cred-{hashlib.sha256(new_token.encode()).hexdigest()[:16]}"
    revoked = operator.invoke(app, ["credentials", "revoke", new_id])
    assert revoked.exit_code == 0, revoked.output
    with Session(engine) as session, pytest.raises(NotAuthenticated):
        authenticate(session, new_token, now=datetime.now(UTC))
    engine.dispose()


def test_hub_credentials_issue_refuses_an_unknown_principal(
    operator: CliRunner, network: Network, tmp_path: Path
) -> None:
    answer = operator.invoke(
        app, ["credentials", "issue", "source", "portal-fr", "--out", str(tmp_path / "t.txt")]
    )
    assert answer.exit_code != 0
    assert not (tmp_path / "t.txt").exists()


def test_no_token_and_no_token_hash_ever_reaches_the_logs(
    client: TestClient, network: Network, engine: Engine, clock: Clock
) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG", stream=stream)
    try:
        with capture_logs() as captured:
            admin = admin_token(engine, clock)
            client.post(
                "/v1/reports", json=report_body("portal-nl"), headers=network.auth("portal-nl")
            )
            client.get("/v1/inbox", headers=network.auth("nl-police"))
            client.get("/v1/inbox", headers=bearer("hubrcp_" + "x" * 43))
            [info] = client.get(
                "/v1/admin/credentials?principal_id=nl-section", headers=bearer(admin)
            ).json()
            rotated = client.post(
                f"/v1/admin/credentials/{info['credential_id']}/rotate",
                json={},
                headers=bearer(admin),
            ).json()
    finally:
        structlog.reset_defaults()
        root.handlers, root.level = handlers, level
    with Session(engine) as session:
        hashes = [row.token_hash for row in session.exec(select(CredentialRow)).all()]
    secrets = [admin, rotated["token"], network.token("portal-nl"), network.token("nl-police")]
    written = stream.getvalue() + repr(captured)
    assert "credential_rotated" in written
    for secret in [*secrets, *hashes]:
        assert secret not in written


def test_credentials_from_before_ids_existed_get_theirs_from_their_hash(
    empty_database_url: str,
) -> None:
    command.upgrade(alembic_config(empty_database_url), "0003")
    engine = make_engine(empty_database_url)
    digest = hashlib.sha256(b"hubsrc_old").hexdigest()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO credentials (token_hash, role, principal_id, created_at) "
                "VALUES (:digest, 'source', 'portal-nl', :now)"
            ),
            {"digest": digest, "now": NOW},
        )
    upgrade(empty_database_url)
    with Session(engine) as session:
        row = session.get(CredentialRow, digest)
        assert row is not None
        assert row.credential_id == f"cred-{digest[:16]}"
        assert row.expires_at is None
    engine.dispose()


def test_rotating_keeps_the_successors_own_expiry_and_ends_the_old_one_at_the_earlier_time(
    engine: Engine, network: Network
) -> None:
    hour = timedelta(hours=1)
    with Session(engine) as session:
        lasting = issue(session, Role.source, "portal-nl", NOW, expires_at=NOW + 2 * hour)
        brief = issue(session, Role.source, "portal-nl", NOW, expires_at=NOW + hour / 4)
        successor_ends = NOW + 30 * 24 * hour
        rotated = rotate_credential(
            session,
            lasting.credential.credential_id,
            NOW,
            overlap=hour,
            expires_at=successor_ends,
        )
        rotate_credential(session, brief.credential.credential_id, NOW, overlap=hour)
        assert rotated.credential.expires_at == successor_ends
        assert rotated.credential.principal_id == "portal-nl"
        assert rotated.credential.role is Role.source
        # The overlap shortens the old credential's life; it never lengthens it.
        assert credential_info(session, lasting.credential.credential_id).expires_at == NOW + hour
        assert credential_info(session, brief.credential.credential_id).expires_at == NOW + hour / 4
        assert credential_info(session, lasting.credential.credential_id).revoked_at is None


def test_rotating_with_no_overlap_revokes_the_old_credential_at_that_instant(
    engine: Engine, network: Network
) -> None:
    with Session(engine) as session:
        old = issue(session, Role.source, "portal-nl", NOW)
        new = rotate_credential(session, old.credential.credential_id, NOW, overlap=timedelta(0))
        info = credential_info(session, old.credential.credential_id)
        assert info.revoked_at == NOW
        assert info.expires_at is None
        with pytest.raises(NotAuthenticated):
            authenticate(session, old.token, now=NOW)
        assert authenticate(session, new.token, now=NOW).id == "portal-nl"
        # A credential that is one second from its end still rotates, with that second's overlap.
        ending = issue(session, Role.source, "portal-nl", NOW, expires_at=NOW + timedelta(hours=1))
        rotate_credential(
            session, ending.credential.credential_id, NOW, overlap=timedelta(seconds=1)
        )
        ended = credential_info(session, ending.credential.credential_id)
        assert ended.revoked_at is None
        assert ended.expires_at == NOW + timedelta(seconds=1)


def test_a_credential_is_not_rotated_at_the_instant_it_expires(
    engine: Engine, network: Network
) -> None:
    with Session(engine) as session:
        issued = issue(session, Role.source, "portal-nl", NOW, expires_at=NOW + timedelta(hours=1))
        with pytest.raises(Forbidden, match="expired"):
            rotate_credential(
                session,
                issued.credential.credential_id,
                NOW + timedelta(hours=1),
                overlap=timedelta(minutes=5),
            )
        assert credential_info(session, issued.credential.credential_id).expires_at == (
            NOW + timedelta(hours=1)
        )


def test_a_credentials_info_is_its_own_and_never_holds_its_token(
    engine: Engine, network: Network
) -> None:
    with Session(engine) as session:
        issued = issue(
            session, Role.recipient, "nl-police", NOW, expires_at=NOW + timedelta(days=1)
        )
        issue(session, Role.source, "portal-nl", NOW)
        info = credential_info(session, issued.credential.credential_id)
        with pytest.raises(NotFound):
            credential_info(session, "cred_unknown")
    assert info == issued.credential
    assert info.model_dump() == {
        "credential_id": issued.credential.credential_id,
        "role": Role.recipient,
        "principal_id": "nl-police",
        "created_at": NOW,
        "expires_at": NOW + timedelta(days=1),
        "revoked_at": None,
    }
    assert issued.token not in info.model_dump_json()


def test_registering_an_administrator_again_says_so_and_keeps_the_first_name(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        assert register_administrator(session, "alice", "Alice", NOW) is True
        assert register_administrator(session, "alice", "Mallory", NOW + timedelta(days=1)) is False
        session.commit()
    with Session(engine) as session:
        row = session.get(AdministratorRow, "alice")
        assert row is not None
        assert (row.name, row.created_at) == ("Alice", NOW)


def test_credentials_are_listed_oldest_first_and_by_id_within_one_instant(
    engine: Engine,
) -> None:
    later = NOW + timedelta(hours=2)
    with Session(engine) as session:
        for admin in ("bob", "carol"):
            register_administrator(session, admin, admin.title(), NOW)
        session.commit()
        issue(session, Role.administrator, "carol", NOW - timedelta(days=1))
        # The newest is issued first; then, at one earlier instant, as many as it takes for the
        # order of issue to be neither the order of time nor the order of ids.
        newest = issue(session, Role.administrator, "bob", later).credential.credential_id
        at_now: list[str] = []
        while at_now == sorted(at_now) or max(at_now) < newest:
            at_now.append(issue(session, Role.administrator, "bob", NOW).credential.credential_id)
        listed = list_credentials(session, principal_id="bob")
        everyone = list_credentials(session)
    assert [c.credential_id for c in listed] == [*sorted(at_now), newest]
    assert [c.created_at for c in listed] == [NOW] * len(at_now) + [later]
    assert {c.principal_id for c in listed} == {"bob"}
    assert everyone[0].principal_id == "carol", "the day-old one comes first"
    assert [c.credential_id for c in everyone][1:] == [c.credential_id for c in listed]


def test_a_token_issued_inside_a_session_keeps_its_expiry_and_lives_only_if_committed(
    engine: Engine, network: Network
) -> None:
    with Session(engine) as session:
        dropped = issue_credential(session, Role.source, "portal-nl", NOW)
        session.rollback()
        token = issue_credential(
            session, Role.source, "portal-nl", NOW, expires_at=NOW + timedelta(hours=1)
        )
        session.commit()
        [row] = session.exec(
            select(CredentialRow).where(CredentialRow.token_hash == token_hash(token))
        ).all()
        assert (row.created_at, row.expires_at) == (NOW, NOW + timedelta(hours=1))
        assert authenticate(session, token, now=NOW + timedelta(minutes=59)).id == "portal-nl"
        with pytest.raises(NotAuthenticated):
            authenticate(session, token, now=NOW + timedelta(hours=1))
        with pytest.raises(NotAuthenticated):
            authenticate(session, dropped, now=NOW)


def _revoked(session: Session) -> str:
    issued = issue(session, Role.source, "portal-nl", NOW)
    revoke_credential(session, issued.credential.credential_id, NOW)
    return issued.token


def _another_roles(session: Session) -> str:
    issued = issue(session, Role.source, "portal-nl", NOW)
    row = session.get(CredentialRow, token_hash(issued.token))
    assert row is not None
    row.role = Role.recipient
    session.commit()
    return issued.token


def _principal_gone(session: Session) -> str:
    register_administrator(session, "bob", "Bob", NOW)
    session.commit()
    issued = issue(session, Role.administrator, "bob", NOW)
    session.delete(session.get(AdministratorRow, "bob"))
    session.commit()
    return issued.token


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_revoked, "revoked"),
        (_another_roles, "prefix does not match the role"),
        (_principal_gone, "principal unknown"),
    ],
)
def test_a_known_token_that_is_refused_is_logged_by_its_credential_id_and_the_reason(
    engine: Engine, network: Network, spoil: Any, reason: str
) -> None:
    with Session(engine) as session:
        token = spoil(session)
        with capture_logs() as logs, pytest.raises(NotAuthenticated) as refused:
            authenticate(session, token, now=NOW)
    assert str(refused.value) == "unknown, expired or revoked credential"
    [event] = [e for e in logs if e["event"] == "authentication_failed"]
    assert event["reason"] == reason
    assert event["credential_id"] == credential_id_of(token_hash(token))
    assert token not in repr(logs)


def test_a_token_resolves_to_its_principal_by_its_credential_and_only_a_recipient_has_a_kind(
    engine: Engine, network: Network
) -> None:
    with Session(engine) as session:
        recipient = session.get(RecipientRow, "nl-police")
        assert recipient is not None
        kind = recipient.kind
        # An administrator whose id is also a recipient's is not given that recipient's kind.
        register_administrator(session, "nl-police", "An administrator", NOW)
        session.commit()
        issued = {
            role: issue(session, role, principal, NOW)
            for role, principal in [
                (Role.source, "portal-nl"),
                (Role.recipient, "nl-police"),
                (Role.administrator, "nl-police"),
            ]
        }
        found = {role: authenticate(session, i.token, now=NOW) for role, i in issued.items()}
    ids = {role: i.credential.credential_id for role, i in issued.items()}
    assert found == {
        Role.source: Principal(Role.source, "portal-nl", None, ids[Role.source]),
        Role.recipient: Principal(Role.recipient, "nl-police", kind, ids[Role.recipient]),
        Role.administrator: Principal(
            Role.administrator, "nl-police", None, ids[Role.administrator]
        ),
    }
    assert kind == "police"


@pytest.mark.parametrize("role", list(Role))
def test_no_credential_is_issued_to_a_principal_that_is_not_registered(
    engine: Engine, network: Network, role: Role
) -> None:
    with Session(engine) as session:
        before = len(session.exec(select(CredentialRow)).all())
        with pytest.raises(NotFound, match=f"no {role.value} fr-nobody"):
            issue(session, role, "fr-nobody", NOW)
        assert len(session.exec(select(CredentialRow)).all()) == before
        assert list_credentials(session, principal_id="fr-nobody") == []
