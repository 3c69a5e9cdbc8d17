"""An administrator registers a source portal over the API: audited, and then it gets its token."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub.network.credentials import Role, issue_credential, register_administrator
from hub.store import AuditEntryRow
from tests.conftest import Clock


def _administrator(engine: Engine, clock: Clock) -> dict[str, str]:
    with Session(engine) as session:
        register_administrator(session, "fr-onboarding-admin", "Onboarding admin", clock())
        token = issue_credential(session, Role.administrator, "fr-onboarding-admin", clock())
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_an_administrator_registers_a_portal_which_is_audited_and_then_gets_its_token(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    admin = _administrator(engine, clock)
    body = {"id": "portal-fr", "name": "French reporting portal", "country": "FR"}
    answer = client.post("/v1/admin/sources", json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] == "portal-fr"
    with Session(engine) as session:
        entries = session.exec(
            select(AuditEntryRow.entry).where(col(AuditEntryRow.kind) == "source_registered")
        ).all()
    events = [json.loads(entry)["event"] for entry in entries]
    assert {"source_id": "portal-fr", "country": "FR"}.items() <= events[-1].items()
    issued = client.post(
        "/v1/admin/credentials",
        json={"role": "source", "principal_id": "portal-fr"},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    again = client.post("/v1/admin/sources", json=body, headers=admin)
    assert again.status_code == 422
