"""The worked examples of docs/protocol.md, as the tests run them: each script found by its marker,
the modules it imports, and a run of it in a folder of its own, isolated from this project."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def doc_example(marker: str) -> str:
    """The Python block after `marker` in docs/protocol.md."""
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    found = re.search(re.escape(marker) + r"\s*```python\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, f"docs/protocol.md has no example after {marker}"
    return found.group(1)


def imported_modules(code: str) -> set[str]:
    """The top-level packages a script imports."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    return imported


def run_example(
    code: str, folder: Path, files: dict[str, bytes]
) -> subprocess.CompletedProcess[str]:
    """Run `code` as example.py in `folder`, with `files` beside it, in isolated mode."""
    folder.mkdir()
    (folder / "example.py").write_text(code, encoding="utf-8")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return subprocess.run(
        [sys.executable, "-I", "example.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def doc_block(marker: str, language: str = "", doc: str = "protocol.md") -> str:
    """The fenced block (of `language`, or without one) after `marker` in docs/`doc`."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    found = re.search(re.escape(marker) + r"\s*```" + language + r"\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, f"docs/{doc} has no {language or 'plain'} block after {marker}"
    return found.group(1)


def table_members(heading: str, doc: str = "protocol.md") -> list[str]:
    """The members named in the first column of the table under `heading` in docs/`doc`."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    start = text.index(heading)
    rows = re.findall(
        r"^\|([^|\n]*)\|", text[start:].split("\n\n|", 1)[1].split("\n\n", 1)[0], re.M
    )
    return [name for row in rows for name in re.findall(r"`([a-z0-9_]+)`", row)]
