"""docs/threat-model.md: every promise names the tests that show it, and each of them exists."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

DOC = ROOT / "docs" / "threat-model.md"
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _promises() -> list[str]:
    return [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| P")]


def _test_names(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_promise_names_at_least_one_test() -> None:
    promises = _promises()
    assert len(promises) >= 10
    for promise in promises:
        assert TEST_REFERENCE.search(promise), f"this promise names no test: {promise[:60]}"


def test_every_test_the_threat_model_names_exists() -> None:
    named = [m.groups() for p in _promises() for m in TEST_REFERENCE.finditer(p)]
    missing = [f"{path}::{name}" for path, name in named if name not in _test_names(path)]
    assert not missing, f"docs/threat-model.md names tests that do not exist: {missing}"


def test_the_threat_model_covers_each_actor_of_the_issue() -> None:
    text = DOC.read_text(encoding="utf-8")
    for actor in (
        "curious hub operator",
        "compromised portal",
        "stolen connector key",
        "network attacker",
        "malicious insider at a section",
    ):
        assert actor in text.lower(), actor
    promised_against = " ".join(p.split("|")[3] for p in _promises())
    for actor in (
        "curious operator",
        "compromised portal",
        "stolen",
        "network attacker",
        "insider",
    ):
        assert actor in promised_against, f"no promise against {actor}"
