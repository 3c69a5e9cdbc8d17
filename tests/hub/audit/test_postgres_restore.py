"""A PostgreSQL hub backed up with pg_dump and restored with pg_restore, as deploy/README.md says:
the restored hub flags its rolled-back log, and a coordinator's `hub audit verify` against it says
so in one line, with what to do, and exits 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from hub.audit.verify import audit_round, sign_round
from hub.cli.main import app
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import load_hub_secrets, published_keys
from hub.settings import Settings
from hub.store import make_engine
from tests.conftest import ROOT, Clock, Network, provision
from tests.factories import report_body
from tests.faults.harness import free_port
from tests.postgres import PostgresServer


def _deliver_one_report(url: str, network: Network) -> None:
    answer = httpx.post(f"{url}/v1/reports", json=report_body(), headers=network.auth("portal-nl"))
    assert answer.status_code == 202, answer.text
    for routed in answer.json()["recipients"]:
        pull_until_empty(load_config(network.connector_config(routed["recipient_id"])))


def _sign(settings: Settings, clock: Clock) -> None:
    engine = make_engine(settings.resolved_database_url)
    key = load_hub_secrets(settings)[0].signing_key
    sign_round(engine, key=key, now=clock(), high_water=settings.signed_head_file)
    engine.dispose()


def _coordinator_verifies(url: str, network: Network, settings: Settings, state: Path) -> str:
    result = CliRunner().invoke(
        app,
        ["audit", "verify", "--url", url, "--state", str(state), "--hub-key",
         str(settings.hub_public_key_file),
         "--token-file", network.entry("network-coordinator")["credential_file"]],
    )  # fmt: skip
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return f"exit {result.exit_code}\n{result.output}"


@pytest.mark.engine("postgresql")
def test_a_hub_restored_with_pg_restore_flags_its_rolled_back_log_to_itself_and_its_verifier(
    settings: Settings,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    server: PostgresServer = request.getfixturevalue("postgres_server")
    database = make_url(settings.resolved_database_url).database
    assert database is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    network = provision(settings, tmp_path / "parties", url)
    state, dump = tmp_path / "coordinator-head.json", tmp_path / "hub.dump"
    served = settings.model_copy(update={"scheduler": False})
    with serving(create_app(served), port=port):
        _deliver_one_report(url, network)
        _sign(settings, clock)
        assert _coordinator_verifies(url, network, settings, state).startswith("exit 0")
        subprocess.run(
            [server.tool("pg_dump"), "--format=custom", f"--file={dump}",
             f"--dbname={server.connection(database)}"],
            check=True,
        )  # fmt: skip
        _deliver_one_report(url, network)
        _sign(settings, clock)
        assert _coordinator_verifies(url, network, settings, state).startswith("exit 0")
    # The hub processes are stopped; the database is restored from the dump, then upgraded.
    subprocess.run(
        [server.tool("pg_restore"), "--clean", "--if-exists",
         f"--dbname={server.connection(database)}", str(dump)],
        check=True,
    )  # fmt: skip
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(ROOT / "deploy" / "routing.toml"))
    upgraded = CliRunner().invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output

    engine = make_engine(settings.resolved_database_url)
    verdict = audit_round(
        engine,
        key=load_hub_secrets(settings)[0].signing_key,
        published=published_keys(settings),
        now=clock(),
        high_water=settings.signed_head_file,
    )
    engine.dispose()
    assert not verdict.verified
    assert "the database was restored from before that head" in verdict.problems[0]
    local = CliRunner().invoke(app, ["audit", "verify"])
    assert local.exit_code == 1
    assert "restored from before that head" in local.output

    with serving(create_app(served), port=port):
        answer = _coordinator_verifies(url, network, settings, state)
    assert answer.startswith("exit 1"), answer
    [line] = [line for line in answer.splitlines() if "rolled back" in line]
    assert "Keep your saved tree head as evidence and ask the hub's operator" in line
    assert "HTTPStatusError" not in answer
