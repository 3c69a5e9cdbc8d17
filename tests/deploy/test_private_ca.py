"""A hub behind a self-signed certificate (uvicorn with TLS on loopback): a portal, a connector
and the verifier trust it through their `ca_file`, and without it each says in one line that the
certificate did not verify, never a bare ConnectError."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.cli.main import app as connector_app
from connectors.config import load_config
from connectors.errors import HubUnreachable
from connectors.portal.submit import submit_report
from hub.cli.main import app as hub_app
from hub.errors import ConfigurationError
from hub.http.app import create_app
from hub.http.server import serving
from hub.settings import Settings
from schemas.report import Report
from tests.conftest import Network, provision
from tests.deploy.test_nginx import self_signed
from tests.factories import report_body
from tests.faults.harness import free_port

SELF_SIGNED = "certificate verify failed: self-signed certificate"


@dataclass
class PrivateHub:
    url: str
    certificate: Path
    network: Network


@pytest.fixture
def private_hub(settings: Settings, tmp_path: Path) -> Iterator[PrivateHub]:
    folder = tmp_path / "tls"
    folder.mkdir()
    certificate, key = self_signed(folder)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    network = provision(settings, tmp_path / "parties", url)
    app = create_app(settings.model_copy(update={"scheduler": False}))
    with serving(app, port=port, tls=(certificate, key)) as served:
        assert served == url
        yield PrivateHub(url, certificate, network)


def test_a_portal_trusts_a_self_signed_hub_through_its_ca_file_and_says_why_without(
    private_hub: PrivateHub,
) -> None:
    report = Report.model_validate(report_body())
    token = private_hub.network.token("portal-nl")
    with pytest.raises(HubUnreachable) as refused:
        submit_report(report, hub_url=private_hub.url, token=token)
    assert SELF_SIGNED in str(refused.value)
    assert "\n" not in str(refused.value)
    answer = submit_report(
        report, hub_url=private_hub.url, token=token, ca_file=private_hub.certificate
    )
    assert answer.recipients


def test_a_connector_pulls_from_a_self_signed_hub_with_ca_file_and_fails_in_one_line_without(
    private_hub: PrivateHub,
) -> None:
    report = Report.model_validate(report_body())
    token = private_hub.network.token("portal-nl")
    submit_report(report, hub_url=private_hub.url, token=token, ca_file=private_hub.certificate)
    config = private_hub.network.connector_config("nl-police")
    refused = CliRunner().invoke(connector_app, ["pull", "--config", str(config)])
    assert refused.exit_code == 1
    [line] = refused.output.splitlines()
    assert SELF_SIGNED in line
    assert "ConnectError" not in line
    document = json.loads(config.read_text(encoding="utf-8"))
    document["ca_file"] = str(private_hub.certificate)
    config.write_text(json.dumps(document), encoding="utf-8")
    pulled = CliRunner().invoke(connector_app, ["pull", "--config", str(config)])
    assert pulled.exit_code == 0, pulled.output
    assert "1 new packet(s) stored" in pulled.output


def test_the_verifier_trusts_a_self_signed_hub_with_ca_file_and_names_the_tls_error_without(
    private_hub: PrivateHub, settings: Settings
) -> None:
    command = ["audit", "verify", "--url", private_hub.url, "--hub-key",
               str(settings.hub_public_key_file), "--token-file",
               private_hub.network.entry("network-coordinator")["credential_file"]]  # fmt: skip
    refused = CliRunner().invoke(hub_app, command)
    assert isinstance(refused.exception, ConfigurationError)
    assert str(refused.exception) == f"cannot read the audit log: {SELF_SIGNED}"
    verified = CliRunner().invoke(hub_app, [*command, "--ca-file", str(private_hub.certificate)])
    assert verified.exit_code == 0, verified.output
    assert "VERDICT: VERIFIED" in verified.output


def test_connector_init_copies_the_ca_file_into_every_config_it_writes(
    settings: Settings, tmp_path: Path
) -> None:
    certificate, _key = self_signed(tmp_path)
    out = tmp_path / "member"
    made = CliRunner().invoke(
        connector_app,
        ["init", "--country", "AT", "--out", str(out), "--hub-url", "https://hub.example.org",
         "--hub-key", str(settings.hub_public_key_file), "--ca-file", str(certificate)],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    configs = sorted(out.glob("*/connector.json"))
    assert configs
    for path in configs:
        assert load_config(path).ca_file == out / path.parent.name / ".." / "hub-ca.pem"
    assert (out / "hub-ca.pem").read_bytes() == certificate.read_bytes()
