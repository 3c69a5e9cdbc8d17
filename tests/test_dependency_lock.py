"""requirements.lock pins every runtime dependency, with hashes, at the version the tests ran with
(`make lock` writes it; `make audit` checks it for known vulnerabilities)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, tuple[str, int]]:
    """Each pinned package: its version and how many hashes it carries."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    locked = {}
    for block in blocks:
        pin = PIN.match(block)
        if pin:
            locked[_normal(pin.group(1))] = (pin.group(2), block.count("--hash=sha256:"))
    return locked


def test_every_runtime_dependency_is_pinned_with_hashes_at_the_tested_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {
        _normal(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]
    }
    locked = _locked()
    missing = sorted(wanted - set(locked))
    assert not missing, f"run `make lock`: requirements.lock lacks {missing}"
    for name, (pinned, hashes) in locked.items():
        assert hashes >= 1, f"{name} is pinned without a hash"
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # a dependency of another platform or Python (an environment marker)
        assert installed == pinned, f"run `make lock`: {name} {pinned} locked, {installed} tested"
