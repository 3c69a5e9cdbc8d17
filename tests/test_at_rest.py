"""At rest on a member's machine and in the hub's database: nothing readable unless chosen.

A pull with the default settings keeps only sealed packets (a canary from the report's free text
is found in no file of the member's folder), the reading room (`connector open --config`) still
opens every one in memory, a line that chooses readable files gets them owner-only and removed on
its profile's schedule, and a copy of the hub's database holds no usable webhook secret.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import MetaData, select
from sqlmodel import Session
from typer.testing import CliRunner

from connectors.cli import app as connector_app
from connectors.config import load_config
from connectors.pull import pull_until_empty
from connectors.store import LocalStore
from hub.directory import DeliveryMode, set_delivery_mode
from hub.errors import ConfigurationError
from hub.keyring import load_webhook_key
from hub.settings import Settings
from hub.store import RecipientRow, make_engine
from hub.webhook_secrets import decrypt_secret
from schemas.report import Report
from tests.conftest import LiveHub, Network
from tests.factories import report_body

CANARY = "CANARY-7f3a9c-unmistakable"
RECIPIENT = "nl-police"


def _submit(hub: LiveHub, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=hub.url, headers=hub.network.auth("portal-nl")) as client:
        for index in range(count):
            body = report_body("portal-nl", free_text=f"{CANARY} number {index}")
            answer = client.post("/v1/reports", json=body)
            assert answer.status_code == 202, answer.text
            ids.append(body["report_id"])
    return ids


def _files_holding(folder: Path, marker: str) -> list[Path]:
    """Every file under `folder` whose bytes, or whose PDF text, contain the marker."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        text = data
        if data.startswith(b"%PDF"):
            text = "".join(page.extract_text() for page in PdfReader(path).pages).encode()
        if marker.encode() in data or marker.encode() in text:
            found.append(path)
    return found


def _member_folder(network: Network, recipient: str) -> Path:
    return network.connector_config(recipient).parent


def test_a_pull_with_default_settings_leaves_no_readable_report_on_disk(
    live_hub: LiveHub,
) -> None:
    _submit(live_hub, 3)
    config = load_config(live_hub.network.connector_config(RECIPIENT))
    assert config.write_readable_reports is False
    result = CliRunner().invoke(connector_app, ["pull", "--config", str(config_path(live_hub))])
    assert result.exit_code == 0, result.stderr
    assert len(list((config.store_dir / "packets").glob("*.json"))) == 3
    assert _files_holding(_member_folder(live_hub.network, RECIPIENT), CANARY) == []
    assert not (config.store_dir / "reports").exists()


def config_path(hub: LiveHub) -> Path:
    return hub.network.connector_config(RECIPIENT)


def test_the_reading_room_opens_every_stored_report_in_memory(live_hub: LiveHub) -> None:
    submitted = _submit(live_hub, 3)
    config = load_config(config_path(live_hub))
    pull_until_empty(config)
    opened = []
    for packet in sorted((config.store_dir / "packets").glob("*.json")):
        result = CliRunner().invoke(
            connector_app,
            ["open", "--config", str(config_path(live_hub)), packet.stem, "--format", "json"],
        )
        assert result.exit_code == 0, result.stderr
        report = Report.model_validate_json(result.stdout)
        assert report.free_text is not None
        assert CANARY in report.free_text
        opened.append(str(report.report_id))
    assert sorted(opened) == sorted(submitted)
    assert _files_holding(_member_folder(live_hub.network, RECIPIENT), CANARY) == []


def _choose_readable_files(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    document["write_readable_reports"] = True
    path.write_text(json.dumps(document), encoding="utf-8")


def test_readable_files_when_chosen_are_owner_only_and_purged_on_the_profile_schedule(
    live_hub: LiveHub,
) -> None:
    _submit(live_hub, 1)
    _choose_readable_files(config_path(live_hub))
    result = CliRunner().invoke(
        connector_app, ["pull", "--config", str(config_path(live_hub)), "--no-pdf"]
    )
    assert result.exit_code == 0, result.stderr
    store = LocalStore(load_config(config_path(live_hub)).store_dir, readable=True)
    written = _files_holding(store.reports, CANARY)
    assert {p.suffix for p in written} == {".json", ".txt", ".html"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    # The NL profile keeps readable files 30 days: at 29 they stay, past 30 they go.
    written_at = datetime.fromtimestamp(max(p.stat().st_mtime for p in written), UTC)
    assert store.purge_readable(now=written_at + timedelta(days=29), keep=timedelta(days=30)) == []
    removed = store.purge_readable(now=written_at + timedelta(days=31), keep=timedelta(days=30))
    assert sorted(removed) == sorted(written)
    assert list(store.reports.iterdir()) == []
    assert _files_holding(store.root, CANARY) == []
    assert list(store.packets.glob("*.json")), "the sealed packet stays"


def test_rendering_refuses_while_reports_are_kept_sealed(live_hub: LiveHub) -> None:
    result = CliRunner().invoke(connector_app, ["render", "--config", str(config_path(live_hub))])
    assert result.exit_code == 1
    assert "write_readable_reports is off" in result.stderr


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"a webhook secret of 32 bytes...!").decode()


def _database_values(settings: Settings) -> list[str]:
    """Every value of every row of every table, as text: what a copy of the database yields."""
    engine = make_engine(settings.resolved_database_url)
    metadata = MetaData()
    metadata.reflect(engine)
    values = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                values += [str(value) for value in row]
    engine.dispose()
    return values


def test_a_database_copy_holds_no_usable_webhook_secret(
    settings: Settings, network: Network
) -> None:
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        set_delivery_mode(
            session,
            RECIPIENT,
            DeliveryMode.push,
            push_url="https://nl-police.example.org/packets",
            webhook_secret=WEBHOOK_SECRET,
            webhook_key=load_webhook_key(settings),
        )
        session.commit()
        stored = session.get(RecipientRow, RECIPIENT)
        assert stored is not None
        assert stored.webhook_secret is not None
        ciphertext = stored.webhook_secret
    engine.dispose()
    secret_body = WEBHOOK_SECRET.removeprefix("whsec_")
    assert not any(secret_body in value for value in _database_values(settings))
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        for path in database.parent.glob(f"{database.name}*"):
            assert secret_body.encode() not in path.read_bytes()
    # Without the key kept outside the database the value opens to nothing; with it, the secret.
    with pytest.raises(ConfigurationError):
        decrypt_secret(os.urandom(32), RECIPIENT, ciphertext)
    with pytest.raises(ConfigurationError):
        decrypt_secret(load_webhook_key(settings), "nl-section", ciphertext)
    assert decrypt_secret(load_webhook_key(settings), RECIPIENT, ciphertext) == WEBHOOK_SECRET
