"""The layers of the code hold: import-linter's contracts in pyproject.toml are kept, and no
module of hub/ or connectors/ takes part in an import circle, across the two packages too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def _circles(graph: grimp.ImportGraph, modules: set[str]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                imported = graph.find_modules_directly_imported_by(child) & modules
                work.append((child, iter(sorted(imported))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_module_of_hub_or_connectors_is_in_an_import_circle() -> None:
    graph = grimp.build_graph("hub", "connectors", "schemas", "keys", cache_dir=None)
    modules = {m for m in graph.modules if m.split(".")[0] in {"hub", "connectors"}}
    assert _circles(graph, modules) == []


def test_the_import_contracts_in_pyproject_are_kept() -> None:
    # In a process of its own: import-linter's command configures logging, and would disable the
    # loggers that later tests in this process read (uvicorn's, in tests/test_no_plaintext.py).
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    linted = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_readmes_map_names_every_package_folder_and_only_folders_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How the code is laid out", 1)[1].split("```")[1]
    mapped = {line.split()[0].rstrip("/") for line in section.strip().splitlines()}
    packages = {
        str(init.parent.relative_to(ROOT))
        for top in ("hub", "connectors")
        for init in (ROOT / top).rglob("__init__.py")
        if "migrations" not in init.parts
    }
    assert packages <= mapped
    assert all((ROOT / folder).is_dir() for folder in mapped)
