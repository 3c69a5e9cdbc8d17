"""The hub's commands never print the database password, whether they succeed or fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.main import app
from hub.settings import Settings
from tests.faults.harness import free_port

PASSWORD = "s3cret-never-shown"


def test_the_shown_database_url_hides_its_password_and_query() -> None:
    settings = Settings(database_url=f"postgresql+psycopg://hub:{PASSWORD}@db:5432/hub?sslmode=x")
    assert settings.shown_database_url == "postgresql+psycopg://hub:***@db:5432/hub"


@pytest.mark.parametrize("command", [["init"], ["db", "upgrade"], ["audit", "verify"]])
def test_no_command_prints_the_database_password(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database that is not there: each command fails, and its message must still hide it.
    url = f"postgresql+psycopg://hub:{PASSWORD}@127.0.0.1:{free_port()}/hub"
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, command)
    assert PASSWORD not in result.output
    assert PASSWORD not in str(result.exception or "")


@pytest.mark.parametrize("command", [["init"], ["db", "upgrade"]])
def test_a_command_without_its_database_says_which_it_tried_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    url = f"postgresql+psycopg://hub:{PASSWORD}@127.0.0.1:{free_port()}/hub"
    env = {**os.environ, "HUB_DATABASE_URL": url, "HUB_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", "from hub.cli.main import main; main()", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert PASSWORD not in done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert "hub:***@127.0.0.1" in line
    assert "HUB_DATABASE_URL" in line
