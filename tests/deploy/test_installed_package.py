"""The hub as deploy/README.md installs it: built into a wheel from the repository's tracked files,
installed into a virtual environment outside the repository and run from a folder of its own,
with the routing policy copied where section 3 puts it. Every data file it reads comes from the
installed package or from that copy; /readyz says which one is missing, never where it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hub.http.sessions import COOKIE
from tests.conftest import ROOT
from tests.faults.harness import free_port, wait_until

UV = ROOT / ".tools" / "bin" / "uv"


@dataclass
class Installed:
    venv: Path
    site_packages: Path
    service_dir: Path
    env: dict[str, str]
    build_seconds: float


def _tracked_copy(target: Path) -> None:
    """The files a fresh clone has: what `pip install .` on the server builds from."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _run(command: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel installed in a new virtual environment; the lock's dependencies are those
    this suite runs on (already installed from uv.lock with their hashes)."""
    assert UV.exists(), "uv missing: make venv installs it into .tools/"
    started = time.monotonic()
    root = tmp_path_factory.mktemp("installed")
    source, wheels, venv = root / "source", root / "wheels", root / "venv"
    _tracked_copy(source)
    offline = {**os.environ, "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    _run([UV, "build", "--wheel", "--out-dir", wheels, source], env=offline)
    [wheel] = wheels.glob("ctt_hub-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run([UV, "pip", "install", "--no-deps", "--python", python, wheel], env=offline)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(_run([python, "-c", where]).stdout.strip())
    # The dependencies, not the project: a plain path in a .pth file runs none of that folder's
    # own .pth files, so the suite's editable install of the repository stays out.
    (site_packages / "lock-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    service_dir = root / "srv"
    (service_dir / "etc").mkdir(parents=True)
    shutil.copyfile(ROOT / "deploy" / "routing.toml", service_dir / "etc" / "routing.toml")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HUB_DATA_DIR": str(service_dir / "var"),
        "HUB_ROUTING_POLICY": str(service_dir / "etc" / "routing.toml"),
    }
    return Installed(venv, site_packages, service_dir, env, time.monotonic() - started)


@pytest.fixture(scope="module")
def served(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`hub init --demo` and `hub serve` of the installed package, run in the service's folder."""
    hub = installed.venv / "bin" / "hub"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cwd = {"cwd": installed.service_dir, "env": installed.env}
    _run([hub, "init", "--demo", "--hub-url", url], **cwd)
    log = (tmp_path_factory.mktemp("served") / "hub.log").open("wb")
    server = subprocess.Popen(
        [str(hub), "serve", "--port", str(port)], stdout=log, stderr=log, **cwd
    )  # type: ignore[call-overload]
    try:
        wait_until(lambda: _ready(url), 60, "the installed hub to start")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _coordinator_token(installed: Installed) -> str:
    listing = json.loads(
        (installed.service_dir / "var" / "demo" / "recipients.json").read_text(encoding="utf-8")
    )
    [entry] = [e for e in listing["recipients"] if e["id"] == "network-coordinator"]
    path = Path(entry["credential_file"])
    return (path if path.is_absolute() else installed.service_dir / path).read_text().strip()


def test_the_installed_hub_runs_from_its_own_folder_and_serves_dashboard_and_compliance(
    installed: Installed, served: str
) -> None:
    imported = _run(
        [installed.venv / "bin" / "python", "-c", "import hub; print(hub.__file__)"],
        cwd=installed.service_dir,
    ).stdout
    assert imported.startswith(str(installed.site_packages)), imported
    assert httpx.get(f"{served}/readyz").json()["status"] == "ready"
    token = _coordinator_token(installed)
    compliance = httpx.get(
        f"{served}/v1/compliance",
        params={"period": "2026-Q4"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert compliance.status_code == 200, compliance.text
    login = httpx.post(f"{served}/dashboard/login", data={"token": token})
    assert login.status_code == 303, login.text
    session = {"Cookie": f"{COOKIE}={login.cookies[COOKIE]}"}
    for page in ("/dashboard/", "/dashboard/quality", "/dashboard/static/dashboard.css"):
        assert httpx.get(f"{served}{page}", headers=session).status_code == 200, page
    print(f"wheel built and installed in {installed.build_seconds:.1f} s")


def test_a_data_file_missing_from_the_install_makes_readyz_name_it_without_its_path(
    installed: Installed, served: str
) -> None:
    standards = installed.site_packages / "hub" / "oversight" / "standards.toml"
    kept = standards.read_bytes()
    standards.unlink()
    try:
        answer = httpx.get(f"{served}/readyz")
    finally:
        standards.write_bytes(kept)
    assert answer.status_code == 503
    detail = answer.json()["detail"]
    assert "quality criteria" in detail
    for secret in (str(installed.venv), "site-packages", "standards.toml", "/"):
        assert secret not in answer.text
    assert httpx.get(f"{served}/readyz").status_code == 200
