"""Nothing of a report's content is written by the hub: not to its database, files or logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from sqlalchemy import text
from sqlmodel import SQLModel
from structlog.testing import capture_logs

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from hub.logs import configure_logging
from hub.store import make_engine
from tests.conftest import LiveHub, opened_reports
from tests.factories import report_body
from tests.postgres import PostgresServer

MARKER = "ZX-MARKER-5b0e1c2d-do-not-store"


@pytest.fixture
def hub_log() -> Iterator[io.StringIO]:
    """Standard-library log lines (uvicorn, httpx) as the hub writes them to stderr.

    structlog's own events are taken by capture_logs() in the test itself.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def database_files(hub: LiveHub, request: pytest.FixtureRequest) -> list[Path]:
    """Every file the database engine keeps, after forcing what it buffers onto disk."""
    url = hub.settings.resolved_database_url
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        return [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    server: PostgresServer = request.getfixturevalue("postgres_server")
    engine = make_engine(url)
    with engine.connect() as connection:
        connection.execute(text("CHECKPOINT"))
    engine.dispose()
    return files_under(server.folder)


def table_dump(hub: LiveHub) -> str:
    """Every row of every table, as text."""
    engine = make_engine(hub.settings.resolved_database_url)
    with engine.connect() as connection:
        rows = [
            repr(row)
            for table in SQLModel.metadata.sorted_tables
            for row in connection.execute(table.select())
        ]
    engine.dispose()
    return "\n".join(rows)


def test_a_marked_report_is_nowhere_in_the_hubs_files_or_logs(
    hub_log: io.StringIO, live_hub: LiveHub, request: pytest.FixtureRequest
) -> None:
    body = report_body("portal-nl", free_text=f"free text {MARKER}")
    body["incident"]["description"] = f"description {MARKER}"
    body["suspects"][0]["name"] = f"name {MARKER}"
    body["reporter"] = {
        "kind": "contact",
        "email": f"{MARKER.lower()}@example.org",
        "consent_to_contact": True,
        "preferred_language": "nl",
    }
    with capture_logs() as structured:
        with httpx.Client(base_url=live_hub.url) as client:
            answer = client.post(
                "/v1/reports", json=body, headers=live_hub.network.auth("portal-nl")
            )
            assert answer.status_code == 202, answer.text
            body["incident"]["place"] = f"place {MARKER}"  # the same id with other content: 409
            conflict = client.post(
                "/v1/reports", json=body, headers=live_hub.network.auth("portal-nl")
            )
            assert conflict.status_code == 409
        result = pull_until_empty(load_config(live_hub.network.connector_config("nl-police")))
    assert result.stored, "the report must have travelled for the test to mean anything"

    hub_files = files_under(live_hub.settings.data_dir) + database_files(live_hub, request)
    assert any(p.name in {"hub.db", "PG_VERSION"} for p in hub_files)
    for path in hub_files:
        content = path.read_bytes()
        assert MARKER.encode() not in content, path
        assert MARKER.lower().encode() not in content, path
    assert any(e["event"] == "report_accepted" for e in structured), "logs must be captured"
    dump = table_dump(live_hub)
    assert "network-coordinator" in dump
    assert MARKER not in dump
    assert MARKER.lower() not in dump
    logged = hub_log.getvalue()
    assert "Application startup complete" in logged, "the hub's stdlib logs must be captured"
    assert MARKER not in logged
    assert MARKER.lower() not in logged
    assert MARKER not in repr(structured)
    assert MARKER.lower() not in repr(structured)

    # The recipient, and only the recipient, can read the content: it keeps the packet sealed
    # on disk too (tests/connectors/recipient/test_at_rest.py) and opens it in memory.
    received = load_config(live_hub.network.connector_config("nl-police")).store_dir
    assert not any(MARKER.encode() in p.read_bytes() for p in files_under(received))
    opened = opened_reports(live_hub.network.connector_config("nl-police"))
    assert any(MARKER in (report.free_text or "") for report in opened.values())
