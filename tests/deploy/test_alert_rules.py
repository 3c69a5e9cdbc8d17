"""deploy/prometheus/alerts.yml: well formed, every hub metric it names exported by /metrics with
the figures the rule watches, and, where promtool is installed, checked and unit-tested by it
(deploy/prometheus/alerts_test.yml)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML, through schemathesis; no stubs locked
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlmodel import Session

from hub.audit.verify import audit_round
from hub.crypto import open_packet, sign_receipt
from hub.delivery.watch import UNRECEIPTED_PULLS
from hub.http.app import create_app
from hub.network.credentials import Role, issue_credential
from hub.network.keyring import load_hub_secrets, published_keys
from hub.settings import Settings
from schemas.envelope import Envelope
from tests.conftest import ROOT, Clock, Network
from tests.factories import report_body

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
# Metrics the rules take from other exporters, each named with where it comes from.
EXTERNAL = {"probe_ssl_earliest_cert_expiry": "the blackbox exporter's TLS probe"}


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    rules = []
    for group in document["groups"]:
        assert set(group) == {"name", "rules"}
        assert group["rules"], group["name"]
        rules += group["rules"]
    return rules


def _named_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:hub|probe)_[a-z_]+)\b", expr))


def test_every_alert_rule_is_well_formed_with_a_severity_and_a_summary() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert _named_metrics(rule["expr"]), rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def _make_every_watched_figure(
    client: TestClient, network: Network, settings: Settings, engine: Engine, clock: Clock
) -> None:
    """A report; a packet pulled again and again without a receipt; a receipt refused; a
    credential that expires; a signed tree head and a verification."""
    answer = client.post("/v1/reports", json=report_body(), headers=network.auth("portal-nl"))
    assert answer.status_code == 202, answer.text
    for _ in range(UNRECEIPTED_PULLS):
        [raw] = client.get("/v1/inbox", headers=network.auth("nl-police")).json()["packets"]
        clock.advance(seconds=settings.lease_seconds + 1)
    sealing = network.keys("nl-police").sealing
    assert sealing is not None
    trust = network.hub_trust()
    opened = open_packet(Envelope.model_validate(raw), hub_keys=trust, private=sealing)
    wrong_key = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=clock.now,
        key=network.keys("nl-section").signing,
    )
    refused = client.post(
        "/v1/receipts",
        json={"receipts": [wrong_key.model_dump(mode="json")]},
        headers=network.auth("nl-police"),
    )
    assert refused.status_code == 422
    with Session(engine) as session:
        issue_credential(
            session, Role.source, "portal-nl", clock.now, expires_at=clock.now + timedelta(days=3)
        )
        session.commit()
    audit_round(
        engine,
        key=load_hub_secrets(settings)[0].signing_key,
        published=published_keys(settings),
        now=clock.now,
        high_water=settings.signed_head_file,
    )


def test_the_hub_exports_every_metric_the_alert_rules_name_with_the_figures_they_watch(
    client: TestClient, network: Network, settings: Settings, engine: Engine, clock: Clock
) -> None:
    _make_every_watched_figure(client, network, settings, engine, clock)
    clock.advance(seconds=90)
    text = client.get("/metrics").text
    samples = {
        sample.name: sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    named = set().union(*(_named_metrics(rule["expr"]) for rule in _rules()))
    missing = sorted(n for n in named - set(EXTERNAL) if n not in samples)
    assert not missing, f"alerts.yml names metrics /metrics does not export: {missing}"
    assert samples["hub_audit_verification_ok"].value == 1
    assert samples["hub_audit_verification_age_seconds"].value == pytest.approx(90, abs=1)
    assert samples["hub_audit_tree_head_age_seconds"].value == pytest.approx(90, abs=1)
    assert samples["hub_audit_unsigned_entries"].value == 0
    assert samples["hub_audit_signed_high_water"].value == samples["hub_audit_entries"].value
    pulled = samples["hub_packets_unreceipted_after_pulls"]
    assert (pulled.labels, pulled.value) == ({"recipient": "nl-police"}, 1)
    rejected = samples["hub_receipts_rejected_total"]
    assert (rejected.labels, rejected.value) == ({"recipient": "nl-police"}, 1)
    expiring = samples["hub_credential_expires_in_seconds"]
    assert expiring.labels["principal"] == "portal-nl"
    assert expiring.value == pytest.approx(3 * 86400 - 90, abs=1)
    oldest = samples["hub_oldest_undelivered_age_seconds"].value
    assert oldest == pytest.approx(UNRECEIPTED_PULLS * (settings.lease_seconds + 1) + 90, abs=2)


def test_a_new_hub_reports_never_verified_and_never_signed_as_infinitely_old(
    settings: Settings, clock: Clock
) -> None:
    app = create_app(settings.model_copy(update={"scheduler": False}), clock=clock)
    with TestClient(app) as client:
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["hub_audit_verification_age_seconds"].samples[0].value == float("inf")
    assert families["hub_audit_tree_head_age_seconds"].samples[0].value == float("inf")
    assert "hub_audit_verification_ok" not in families
    assert families["hub_oldest_undelivered_age_seconds"].samples[0].value == 0


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: `make promtool` installs it (make test does)"
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run(
            [promtool, *command], cwd=RULES.parent, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
