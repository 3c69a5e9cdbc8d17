"""A pytest plugin for `make mutants` only: the authorization matrix runs for authz's mutants.

mutmut runs, against each mutant, every selected test that reached the mutated function. The
matrix in tests/hub/http/test_authz.py calls every endpoint as every party (60 rows, 80 s), so
it reaches nearly all the hub, and every surviving mutant anywhere paid for it in full. It is the
test of hub/http/authz.py; the other modules are answered by their own tests, as the note says
(docs/mutants.md). Outside a mutant's run (the stats run that finds which tests reach what, a
plain `pytest`) this plugin deselects nothing.
"""

from __future__ import annotations

import os

import pytest

# The tests that build the matrix's hub (its module-scoped `world`), by node id.
MATRIX = (
    "tests/hub/http/test_authz.py::test_each_endpoint_answers_each_caller_exactly_as_the_table_says",
    "tests/hub/http/test_authz.py::test_the_openapi_document_asks_for_a_token_exactly_where_the_table_does",
)
# The modules whose mutants the matrix is the test of.
MATRIX_MODULES = ("hub.http.authz.",)


def _mutant() -> str:
    """The mutant this run is against (`module.x_f__mutmut_n`), or "" outside one."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mutant = _mutant()
    if not mutant or mutant.startswith(MATRIX_MODULES):
        return
    dropped = [item for item in items if item.nodeid.startswith(MATRIX)]
    if dropped:
        items[:] = [item for item in items if not item.nodeid.startswith(MATRIX)]
        config.hook.pytest_deselected(items=dropped)
