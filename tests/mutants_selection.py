"""A pytest plugin for `make mutants` only: a mutant is answered by the tests of its own module.

mutmut runs, against each mutant, every selected test that reached the mutated function. Most
tests reach far: a dashboard login signs audit entries, the authorization matrix in
tests/hub/http/test_authz.py (60 rows, 80 s) calls every endpoint as every party, and every
surviving mutant paid for all of them. Here each guarded module names the test files that are its
tests (the one that mirrors it, and the tampering tests for evidence); a mutant's run keeps the
tests mutmut chose from those files only. A mutant that only a far test reached shows as "no
tests", and is counted as a survivor: its module needs a test of its own (docs/mutants.md).
Outside a mutant's run (the stats run that finds which test reaches what, a plain `pytest`)
this plugin deselects nothing.

In a mutant's run it also spares each forked session two costs that are the same for every
mutant: migrating the test database (every session would run Alembic from empty) and collecting
the garbage of the heap it inherited from mutmut's fork server (gc.freeze). The migrated
template is built once per `make mutants`, in mutmut's own folder, by whichever session comes
first; hub/store.py and the migrations are not mutated, so it is the same for every mutant.
"""

from __future__ import annotations

import fcntl
import gc
import os
from pathlib import Path

import pytest

from hub.store import upgrade
from tests.conftest import TEMPLATES

_TAMPERING = "tests/test_tampering.py"
_CRYPTO = "tests/hub/test_crypto.py"
_AUDIT = "tests/hub/audit/test_audit.py"
_DASHBOARD = "tests/hub/http/test_dashboard.py"

# A mutant's module (mutmut names a mutant `package.module.x_function__mutmut_n`) to its tests.
TESTS_OF: dict[str, tuple[str, ...]] = {
    "hub.crypto": (_CRYPTO, _TAMPERING),
    "keys.keypair": ("tests/hub/cli/test_keys.py", _CRYPTO),
    "schemas.envelope": (_CRYPTO, _TAMPERING),
    "hub.network.credentials": ("tests/hub/network/test_credentials.py",),
    "hub.http.authz": ("tests/hub/http/test_authz.py",),
    "hub.http.sessions": (_DASHBOARD,),
    "hub.http.dashboard_session": (_DASHBOARD,),
    "hub.audit.log": (_AUDIT, _TAMPERING),
    "hub.merkle": ("tests/hub/test_merkle.py", _AUDIT),
    "hub.audit.verify": (_AUDIT, "tests/hub/audit/test_verify.py", _TAMPERING),
    "hub.delivery.state": ("tests/hub/delivery/test_delivery.py", _TAMPERING),
}


def tests_of(mutant: str) -> tuple[str, ...] | None:
    """The test files that answer `mutant`, or None outside a mutant's run or module."""
    if "__mutmut_" not in mutant:
        return None
    module = mutant.split(".x_")[0].split(".xǁ")[0]
    return TESTS_OF.get(module)


def pytest_configure(config: pytest.Config) -> None:
    if tests_of(os.environ.get("MUTANT_UNDER_TEST", "")) is None:
        return
    gc.freeze()
    config.stash.setdefault(TEMPLATES, {})["sqlite"] = str(_shared_template(Path.cwd()))


def _shared_template(folder: Path) -> Path:
    """A database migrated to the newest schema, made by the first session that asks."""
    template = folder / ".mutants-template.db"
    with (folder / ".mutants-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            building = template.with_suffix(".building")
            building.unlink(missing_ok=True)
            upgrade(f"sqlite:///{building}")
            building.replace(template)
    return template


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    files = tests_of(os.environ.get("MUTANT_UNDER_TEST", ""))
    if files is None:
        return
    kept = [item for item in items if item.nodeid.split("::")[0] in files]
    dropped = [item for item in items if item.nodeid.split("::")[0] not in files]
    if dropped:
        items[:] = kept
        config.hook.pytest_deselected(items=dropped)
