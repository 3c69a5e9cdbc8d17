"""At rest on a member's machine: nothing readable unless the line chooses it.

A pull with the default settings keeps only sealed packets (a canary from the report's free text
is found in no file of the member's folder), the reading room (`connector open --config`) still
opens every one in memory, and a line that chooses readable files gets them owner-only and
removed on its profile's schedule.
"""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pypdf import PdfReader
from typer.testing import CliRunner

from connectors.cli.main import app as connector_app
from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from connectors.recipient.store import LocalStore
from schemas.report import Report
from tests.clock import SHIFT_VARIABLE
from tests.conftest import ROOT, LiveHub, Network, choose_readable_files
from tests.factories import report_body
from tests.faults.harness import CLOCKED

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


def _connector_open(config: Path, packet_id: str) -> subprocess.CompletedProcess[str]:
    """`connector open` in its own process, as a reader runs it: its output is the report alone."""
    return subprocess.run(
        [*CLOCKED, "connectors", "open", "--config", str(config), packet_id, "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", SHIFT_VARIABLE: os.environ[SHIFT_VARIABLE]},
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_the_reading_room_opens_every_stored_report_in_memory(live_hub: LiveHub) -> None:
    submitted = _submit(live_hub, 3)
    config = load_config(config_path(live_hub))
    pull_until_empty(config)
    opened = []
    for packet in sorted((config.store_dir / "packets").glob("*.json")):
        result = _connector_open(config_path(live_hub), packet.stem)
        assert result.returncode == 0, result.stderr
        report = Report.model_validate_json(result.stdout)
        assert report.free_text is not None
        assert CANARY in report.free_text
        opened.append(str(report.report_id))
    assert sorted(opened) == sorted(submitted)
    assert _files_holding(_member_folder(live_hub.network, RECIPIENT), CANARY) == []


def test_readable_files_when_chosen_are_owner_only_and_purged_on_the_profile_schedule(
    live_hub: LiveHub,
) -> None:
    _submit(live_hub, 1)
    choose_readable_files(config_path(live_hub))
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
