"""A new country joins a deployed hub from its registration folder alone: two hub processes
behind nginx with TLS (deploy/nginx/ctt-hub.conf), on each engine the suite runs (PostgreSQL
among them). France's recipients, its portal and its profile come from the folder `connector
init` wrote; the new portal's first report goes in through nginx, is pulled through nginx, and
reads in French, in Paris time; the compliance report judges France by the registered profile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from connectors.cli.main import app as connector
from connectors.config import load_config
from hub.cli.main import app as hub
from hub.crypto import verify_acknowledgement
from hub.settings import Settings
from hub.store import DeliveryRow, make_engine
from keys import load_public_keyset
from schemas.envelope import Envelope
from tests.deploy.test_nginx import Deployment, behind_nginx, nginx_binary
from tests.factories import report_body
from tests.test_onboarding import FRANCE

__all__ = ["behind_nginx", "nginx_binary"]  # the deployment's fixtures, used here too

PORTAL = """
[[portals]]
id = "portal-fr"
name = "French reporting portal"
mapping = "portal-fr.mapping.toml"
"""


def _run(app: object, *args: str) -> str:
    result = CliRunner().invoke(app, list(args))  # type: ignore[arg-type]
    assert result.exit_code == 0, f"{args[0]}: {result.output} {result.exception!r}"
    return result.output


def test_france_joins_a_hub_behind_nginx_from_its_registration_folder_alone(
    behind_nginx: Deployment,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The operator's `hub` commands act on the deployment's data folder and database; the
    # member's connector trusts the deployment's self-signed certificate through `--ca-file`.
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(settings.routing_policy))
    hub_url = behind_nginx.tls_url

    # 1. On the member's machine: its profile (recipients, portal, calendar) and `connector init`.
    profiles = tmp_path / "profiles"
    (profiles / "fr").mkdir(parents=True)
    (profiles / "fr" / "profile.toml").write_text(FRANCE + PORTAL, encoding="utf-8")
    member = tmp_path / "fr-member"
    _run(
        connector, "init", "--country", "FR", "--profiles", str(profiles), "--out", str(member),
        "--hub-url", hub_url, "--hub-key", str(settings.hub_public_key_file),
        "--ca-file", str(tmp_path / "nginx" / "fullchain.pem"),
    )  # fmt: skip
    registration = tmp_path / "sent-to-the-operator"  # the folder alone travels to the hub
    shutil.copytree(member / "registration", registration)

    # 2. On the hub's machine: the folder registers recipients, portal and profile at once.
    tokens = tmp_path / "tokens-for-fr"
    added = _run(hub, "recipients", "add", str(registration), "--credentials-out", str(tokens))
    assert "fr-police: registered" in added
    assert "portal-fr: source portal registered" in added
    assert "FR: country profile registered: languages fr, en, calendar FR" in added
    portal_token = tmp_path / "portal-fr.token"
    _run(hub, "credentials", "issue", "source", "portal-fr", "--out", str(portal_token))
    for recipient in ("fr-section", "fr-police"):
        shutil.copyfile(
            tokens / f"{recipient}.credential.txt", member / recipient / "credential.txt"
        )

    # 3. The new portal's first report, through nginx with TLS, acknowledged by the hub's key.
    body = report_body("portal-fr", country="FR", nationalities=("FR",))
    answer = httpx.post(
        f"{hub_url}/v1/reports",
        json=body,
        headers={"Authorization": f"Bearer {portal_token.read_text().strip()}"},
        verify=behind_nginx.trust,
    )
    assert answer.status_code == 202, answer.text
    hub_key = load_public_keyset(settings.hub_public_key_file)
    verify_acknowledgement(
        Envelope.model_validate(answer.json()["acknowledgement"]),
        {hub_key.signing_key_id: hub_key.signing},
    )

    # 4. The police liaison pulls it through nginx, receipts it, and reads it in French.
    config = member / "fr-police" / "connector.json"
    assert "1 new packet(s) stored" in _run(connector, "pull", "--config", str(config))
    (stored,) = (load_config(config).store_dir / "packets").glob("*.json")
    reading = _run(connector, "open", "--config", str(config), stored.stem)  # no --locale
    assert "Signalement CTT" in reading
    assert "+01:00" in reading or "+02:00" in reading or "Europe/Paris" in reading
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            states = {
                row.recipient_id: row.state
                for row in session.exec(
                    select(DeliveryRow).where(DeliveryRow.report_id == body["report_id"])
                )
            }
    finally:
        engine.dispose()
    assert states["fr-police"] == "delivered"

    # 5. The hub judges France by the profile that came in the folder.
    (france,) = json.loads(_run(hub, "compliance", "report", "--country", "FR"))["countries"]
    assert france["profile"]["calendar"] == "FR"
    assert france["profile"]["languages"] == ["fr", "en"]
    s4 = next(v for v in france["verdicts"] if v["criterion"] == "S4")
    assert s4["evidence"]["figures"]["reports_received_from_portal"] == 1
