"""The environment is the lock: uv.lock pins every dependency, runtime and dev, with its hashes, and
`make venv` installs exactly that (`uv sync --locked`); requirements.lock is uv.lock's runtime part,
exported for deployments that install with pip (`make lock` writes both)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import distributions

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
PROJECT = "ctt-hub"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _uv_lock() -> dict[str, dict[str, set[str]]]:
    """Each locked package: its versions (one per environment marker), each with its file hashes."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked: dict[str, dict[str, set[str]]] = {}
    for package in lock["package"]:
        files = [package.get("sdist", {}), *package.get("wheels", [])]
        hashes = {f["hash"].removeprefix("sha256:") for f in files if "hash" in f}
        locked.setdefault(_normal(package["name"]), {})[package["version"]] = hashes
    return locked


def _requirements_lock() -> dict[str, tuple[str, set[str]]]:
    """Each pin of requirements.lock: its version and its hashes."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    pins = {}
    for block in blocks:
        pin = PIN.match(block)
        if pin:
            pins[_normal(pin.group(1))] = (pin.group(2), set(HASH.findall(block)))
    return pins


def test_every_locked_registry_package_carries_hashes() -> None:
    for name, versions in _uv_lock().items():
        if name == PROJECT:
            continue
        for version, hashes in versions.items():
            assert hashes, f"{name} {version} is locked without a hash"


def test_the_environment_is_exactly_what_uv_lock_pins() -> None:
    locked = _uv_lock()
    installed = {_normal(d.metadata["Name"]): d.version for d in distributions()}
    strays = sorted(set(installed) - set(locked))
    assert not strays, f"installed but not locked (run `make lock`, then `make venv`): {strays}"
    for name, version in installed.items():
        assert version in locked[name], (
            f"{name} {version} installed, {sorted(locked[name])} locked: run `make venv`"
        )


def test_requirements_lock_is_the_runtime_part_of_uv_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {
        _normal(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]
    }
    pins = _requirements_lock()
    missing = sorted(runtime - set(pins))
    assert not missing, f"run `make lock`: requirements.lock lacks {missing}"
    locked = _uv_lock()
    for name, (version, hashes) in pins.items():
        assert version in locked.get(name, {}), f"run `make lock`: {name} {version} not in uv.lock"
        assert hashes, f"{name} is pinned without a hash"
        assert hashes <= locked[name][version], f"run `make lock`: {name}'s hashes differ"
    dev_only = {"pytest", "mypy", "ruff", "hypothesis", "time-machine"}
    assert not dev_only & set(pins), "requirements.lock holds dev tools: export with --no-dev"
