"""One connector install serves every recipient of a member, with one pull unit instance per
recipient: each instance runs the unit's own command line on its recipient's config, pulls only
its own packets, and cannot open the other recipient's (docs/onboarding.md, step 4)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.cli.main import REJECTED
from connectors.cli.main import app as connector
from hub.cli.main import app as hub
from tests.conftest import ROOT, LiveHub

EXAMPLES = ROOT / "docs" / "examples" / "profiles"
INSTALLED = "/opt/ctt-connector/bin/connector"  # where docs/onboarding.md step 0 installs it
LAYOUT = "/var/lib/ctt"  # connector init --out, as the unit reads it


def _run(app: object, *args: str) -> str:
    result = CliRunner().invoke(app, list(args))  # type: ignore[arg-type]
    assert result.exit_code == 0, f"{args[0]}: {result.output} {result.exception!r}"
    return result.output


@pytest.fixture
def hub_env(live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hub` commands act on the live hub's data folder and database."""
    settings = live_hub.settings
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(settings.routing_policy))


def _unit_command(recipient: str, member: Path) -> list[str]:
    """The pull unit's ExecStart for one instance, with this machine's install and folder."""
    unit = (ROOT / "deploy/systemd/ctt-connector-pull@.service").read_text(encoding="utf-8")
    (start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    installed = str(Path(sys.executable).parent / "connector")  # the same package, installed
    command = start.removeprefix("ExecStart=").replace("%i", recipient)
    return shlex.split(command.replace(INSTALLED, installed).replace(LAYOUT, str(member)))


def test_one_install_serves_both_recipients_with_one_pull_unit_instance_each(
    live_hub: LiveHub, hub_env: None, tmp_path: Path
) -> None:
    member = tmp_path / "var-lib-ctt"
    _run(
        connector, "init", "--country", "FR", "--profiles", str(EXAMPLES), "--out", str(member),
        "--hub-url", live_hub.url, "--hub-key", str(live_hub.settings.hub_public_key_file),
    )  # fmt: skip
    tokens = tmp_path / "tokens"
    _run(hub, "recipients", "add", str(member / "registration"), "--credentials-out", str(tokens))
    recipients = ("fr-section", "fr-police")
    for recipient in recipients:
        shutil.copyfile(
            tokens / f"{recipient}.credential.txt", member / recipient / "credential.txt"
        )
        _run(hub, "recipients", "test", recipient)

    for recipient in recipients:
        ran = subprocess.run(
            _unit_command(recipient, member),
            cwd=member,  # the unit's WorkingDirectory
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert "1 new packet(s) stored" in ran.stdout, ran.stdout
        assert "receipt verified" in _run(hub, "recipients", "status", recipient)

    # Each recipient's keys open its own packets only: the section cannot read the police's.
    (police_packet,) = (member / "fr-police" / "inbox" / "packets").glob("*.json")
    section_config = member / "fr-section" / "connector.json"
    refused = CliRunner().invoke(
        connector, ["open", "--config", str(section_config), str(police_packet)]
    )
    assert refused.exit_code == 1
    assert REJECTED in refused.output
    assert "TEST PACKET" not in refused.output
