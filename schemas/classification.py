"""The network's common classification codes and reason codes for triage decisions, as data.

The codes ship as `schemas/classification.toml`: each classification code with the term of the
Luxembourg Guidelines (2016) it stands for, a definition sentence and the reference; each reason
code with the decisions it may explain (`close`, `needs_information`). `load_codes(extra)` reads
the shipped list and, if given, a coordinators' file of the same shape that overrides codes of the
same name and adds new ones (the hub's setting `HUB_CLASSIFICATION_CODES`). `CodeList.problems`
says what is wrong with a decision's codes, field by field. docs/classification.md is generated
from the list: `python -m schemas.classification docs/classification.md`.
"""

from __future__ import annotations

import sys
import tomllib
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CODE_PATTERN",
    "ClassificationCode",
    "CodeList",
    "CodeListInvalid",
    "Decision",
    "ReasonCode",
    "load_codes",
    "render_markdown",
    "update_document",
]

# Fits the triage table's columns (40) and a forward's `classification` addition.
CODE_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
Code = Annotated[str, Field(pattern=CODE_PATTERN)]


class Decision(StrEnum):
    """What the first receiver of a report decided."""

    forward = "forward"  # to its police or section, or to a line of another member country
    needs_information = "needs_information"  # contact the reporter (only with consent)
    close = "close"  # with a reason code


class CodeListInvalid(ValueError):
    """A code list file is missing, not TOML, or not of the documented shape."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassificationCode(_Strict):
    """One of the network's common codes: a Luxembourg Guidelines term, defined."""

    code: Code
    term: Annotated[str, Field(min_length=1, max_length=200)]
    definition: Annotated[str, Field(min_length=1, max_length=1000)]
    reference: Annotated[str, Field(min_length=1, max_length=300)]
    retired: bool = False


class ReasonCode(_Strict):
    """Why a line closes a report, or what it needs before it passes one on."""

    code: Code
    applies_to: list[Literal["close", "needs_information"]] = Field(min_length=1)
    term: Annotated[str, Field(min_length=1, max_length=200)]
    definition: Annotated[str, Field(min_length=1, max_length=1000)]
    retired: bool = False


class _CodeFile(_Strict):
    version: Literal[1]
    classification: list[ClassificationCode] = []
    reason: list[ReasonCode] = []


class CodeList(_Strict):
    """The classification and reason codes in force."""

    classifications: dict[str, ClassificationCode]
    reasons: dict[str, ReasonCode]

    def problems(
        self, decision: Decision, classification: str, reason_code: str | None
    ) -> list[tuple[str, str]]:
        """(field, reason) for each code of a decision that is not allowed; empty if all are."""
        found = []
        known = self.classifications.get(classification)
        if known is None:
            found.append(("classification", "not a code of the network's classification list"))
        elif known.retired:
            found.append(("classification", "a retired code: choose a current one"))
        if decision is Decision.forward:
            if reason_code is not None:
                found.append(("reason_code", "a forward takes no reason code"))
            return found
        if reason_code is None:
            if decision is Decision.close:
                found.append(("reason_code", "a close needs a reason code"))
            return found
        reason = self.reasons.get(reason_code)
        if reason is None:
            found.append(("reason_code", "not a reason code of the network's list"))
        elif reason.retired:
            found.append(("reason_code", "a retired code: choose a current one"))
        elif decision.value not in reason.applies_to:
            found.append(("reason_code", f"not a reason for the decision {decision.value}"))
        return found


def _read(path: Path) -> _CodeFile:
    try:
        with path.open("rb") as handle:
            return _CodeFile.model_validate(tomllib.load(handle))
    except OSError as exc:
        raise CodeListInvalid(f"{path}: cannot read the code list ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CodeListInvalid(f"{path}: not TOML ({exc})") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CodeListInvalid(f"{path}: not a code list ({problems})") from exc


def load_codes(extra: Path | None = None) -> CodeList:
    """The shipped codes, overridden and extended by the codes in `extra` if given.

    Raises CodeListInvalid for a file that is missing or not of the documented shape.
    """
    with resources.as_file(resources.files("schemas") / "classification.toml") as shipped:
        files = [_read(shipped)]
    if extra is not None:
        files.append(_read(extra))
    classifications: dict[str, ClassificationCode] = {}
    reasons: dict[str, ReasonCode] = {}
    for file in files:
        classifications.update({c.code: c for c in file.classification})
        reasons.update({r.code: r for r in file.reason})
    return CodeList(classifications=classifications, reasons=reasons)


def render_markdown(codes: CodeList) -> str:
    """The codes as Markdown: one row per classification code, then the reason codes."""
    lines = ["| code | term | definition | reference |", "|---|---|---|---|"]
    for c in codes.classifications.values():
        retired = " (retired)" if c.retired else ""
        lines.append(f"| `{c.code}`{retired} | {c.term} | {c.definition} | {c.reference} |")
    lines += ["", "| reason code | for | term | definition |", "|---|---|---|---|"]
    for r in codes.reasons.values():
        retired = " (retired)" if r.retired else ""
        used = ", ".join(f"`{a}`" for a in r.applies_to)
        lines.append(f"| `{r.code}`{retired} | {used} | {r.term} | {r.definition} |")
    return "\n".join(lines) + "\n"


_BEGIN, _END = "<!-- classification-codes -->\n", "<!-- /classification-codes -->\n"


def update_document(path: Path, codes: CodeList) -> None:
    """Write the codes into `path` between its `<!-- classification-codes -->` markers."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    path.write_text(head + _BEGIN + render_markdown(codes) + _END + tail, encoding="utf-8")


if __name__ == "__main__":
    # python -m schemas.classification                          print the shipped codes
    # python -m schemas.classification docs/classification.md   write them into that document
    if len(sys.argv) > 1:
        update_document(Path(sys.argv[1]), load_codes())
    else:
        print(render_markdown(load_codes()), end="")
