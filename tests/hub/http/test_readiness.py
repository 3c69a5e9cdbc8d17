"""/readyz checks every data file the hub reads while it serves, and names the one at fault; no
answer of the hub shows a server path, the operator reads it in the hub's log."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from hub.http.app import create_app
from hub.http.problems import MISCONFIGURED
from hub.settings import Settings
from tests.conftest import Clock, Network


def _client(settings: Settings, clock: Clock, **changes: object) -> TestClient:
    changed = settings.model_copy(update={"scheduler": False, **changes})
    return TestClient(create_app(changed, clock=clock), raise_server_exceptions=False)


def test_unreadable_quality_criteria_make_readyz_503_and_compliance_hide_the_path(
    settings: Settings, network: Network, clock: Clock, tmp_path: Path
) -> None:
    criteria = tmp_path / "secret-folder" / "standards.toml"
    with _client(settings, clock, quality_criteria=criteria) as client, capture_logs() as logs:
        ready = client.get("/readyz")
        compliance = client.get(
            "/v1/compliance",
            params={"period": "2026-Q4"},
            headers=network.auth("network-coordinator"),
        )
    assert ready.status_code == 503
    assert "quality criteria (HUB_QUALITY_CRITERIA" in ready.json()["detail"]
    assert compliance.status_code == 503
    assert compliance.json()["detail"] == MISCONFIGURED
    for answer in (ready, compliance):
        assert "secret-folder" not in answer.text
        assert str(tmp_path) not in answer.text
    causes = [
        e["cause"] for e in logs if e["event"] in {"data_file_unready", "configuration_error"}
    ]
    assert causes
    assert all("secret-folder" in cause for cause in causes)


def test_a_routing_policy_broken_after_the_start_makes_readyz_503_naming_it(
    settings: Settings, network: Network, clock: Clock, tmp_path: Path
) -> None:
    policy = tmp_path / "routing.toml"
    shutil.copyfile(settings.routing_policy, policy)
    with _client(settings, clock, routing_policy=policy) as client:
        assert client.get("/readyz").status_code == 200
        policy.write_text("[[rules]]\nid = 'half a rule'\n", encoding="utf-8")
        broken = client.get("/readyz")
        policy.unlink()
        missing = client.get("/readyz")
    for answer in (broken, missing):
        assert answer.status_code == 503
        assert "routing policy (HUB_ROUTING_POLICY)" in answer.json()["detail"]
        assert str(tmp_path) not in answer.text
