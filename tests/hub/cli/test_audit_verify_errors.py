"""`hub audit verify --url` says in one line why it could not read a hub, never an httpx class."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hub.cli.main import app
from hub.errors import ConfigurationError
from tests.conftest import LiveHub


def test_a_refused_token_is_named_with_the_hubs_status_path_and_detail(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    token = tmp_path / "token.txt"
    token.write_text("hubadm_" + "x" * 43 + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["audit", "verify", "--url", live_hub.url, "--token-file", str(token)]
    )
    assert isinstance(result.exception, ConfigurationError)
    message = str(result.exception)
    assert message.startswith("cannot read the audit log: the hub answered 401 to /v1/audit/")
    assert "unknown, expired or revoked credential" in message
    assert "HTTPStatusError" not in message
    assert "\n" not in message


def test_a_hub_that_does_not_answer_is_named_in_one_line(tmp_path: Path) -> None:
    token = tmp_path / "token.txt"
    token.write_text("hubadm_" + "x" * 43 + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["audit", "verify", "--url", "http://127.0.0.1:9", "--token-file", str(token)]
    )
    assert isinstance(result.exception, ConfigurationError)
    assert str(result.exception).startswith("cannot read the audit log: ConnectError: ")
    assert "\n" not in str(result.exception)
