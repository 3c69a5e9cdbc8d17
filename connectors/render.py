"""Readable renderings of a report, as plain text and as printable HTML, with English labels.

Both are built from one view, so they show the same thing: every field of the report, the
reporter's own text exactly as written and marked with its language, and the evidence that ties
the report to the packet it came in. Labels live here so that translations can replace them later.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import jinja2
import pycountry
from pydantic import BaseModel

from schemas.envelope import PacketBody
from schemas.report import Report

NOT_GIVEN = "not given"
_LABELS = {
    "report_id": "Report id",
    "schema_version": "Schema version",
    "submitted_at": "Submitted at",
    "place_kind": "Kind of place",
    "date_from": "Date (from)",
    "date_to": "Date (to)",
    "approximate_age": "Approximate age",
    "approximate_ages": "Approximate ages",
    "residence_country": "Country of residence",
    "vehicle_or_travel": "Vehicle or travel",
    "consent_to_contact": "Consents to contact",
    "preferred_language": "Preferred language",
    "text_language": "Language of the reporter's text",
    "count": "Number of children",
}
_COUNTRY_FIELDS = {"country", "nationality", "residence_country"}
_LANGUAGE_FIELDS = {"text_language", "preferred_language"}
# Shown in its own block, verbatim, rather than as a row.
_FREE_TEXT = "free_text"


@dataclass(frozen=True)
class Row:
    """One labelled value."""

    label: str
    value: str


@dataclass(frozen=True)
class Section:
    """A titled group of rows."""

    title: str
    rows: list[Row]


@dataclass(frozen=True)
class ReportView:
    """Everything a rendering shows, already turned into labelled strings."""

    report_id: str
    sections: list[Section]
    free_text: str | None
    free_text_language: str
    evidence: Section


def _label(name: str) -> str:
    return _LABELS.get(name, name.replace("_", " ").capitalize())


def _country(code: str) -> str:
    found = pycountry.countries.get(alpha_2=code)
    return f"{code} ({found.name})" if found is not None else code


def _language(code: str) -> str:
    found = pycountry.languages.get(alpha_2=code)
    return f"{code} ({found.name})" if found is not None else code


def _value(name: str, value: Any) -> str:
    if value is None or value == []:
        return NOT_GIVEN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value).replace("_", " ")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(_value(name, item) for item in value)
    if name in _COUNTRY_FIELDS:
        return _country(str(value))
    if name in _LANGUAGE_FIELDS:
        return _language(str(value))
    return str(value) if isinstance(value, str | int | UUID) else repr(value)


def _sections(title: str, model: BaseModel) -> list[Section]:
    """A section for `model`'s plain fields, followed by one per nested model, recursively."""
    rows: list[Row] = []
    nested: list[Section] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name == _FREE_TEXT:
            continue
        if isinstance(value, BaseModel):
            nested += _sections(_label(name), value)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            singular = _label(name).removesuffix("s")
            for index, item in enumerate(value, start=1):
                nested += _sections(f"{singular} {index}", item)
        else:
            rows.append(Row(_label(name), _value(name, value)))
    return [Section(title, rows), *nested]


def build_view(report: Report, *, packet: PacketBody, sealed_sha256: str) -> ReportView:
    """Turn a report and its packet into labelled strings, one row per field."""
    language = _language(report.text_language) if report.text_language else "not stated"
    evidence = Section(
        "Evidence",
        [
            Row("Report id", str(report.report_id)),
            Row("Packet id", str(packet.packet_id)),
            Row("Recipient", packet.recipient_id),
            Row("Sealed at", packet.sealed_at.isoformat()),
            Row("Recipient key id", packet.recipient_key_id),
            Row("Sealed SHA-256", sealed_sha256),
        ],
    )
    return ReportView(
        report_id=str(report.report_id),
        sections=_sections("Report", report),
        free_text=report.free_text,
        free_text_language=language,
        evidence=evidence,
    )


def _terminal_safe(text: str) -> str:
    # Control characters (ANSI escapes above all) could rewrite what a terminal or printer
    # shows, so they are made visible; newlines and tabs are kept as written.
    text = text.replace("\r\n", "\n")
    return "".join(c if c in "\n\t" or not _is_control(c) else f"\\u{ord(c):04x}" for c in text)


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029"


_WIDTH = 34
_RULE = "-" * 72


def _text_row(row: Row) -> list[str]:
    value = _terminal_safe(row.value)
    if "\n" not in value:
        return [f"  {row.label + ':':<{_WIDTH}}{value}"]
    return [f"  {row.label}:", *(f"      {line}" for line in value.split("\n"))]


def _text_section(section: Section) -> list[str]:
    return [section.title, *(line for row in section.rows for line in _text_row(row)), ""]


def render_text(report: Report, *, packet: PacketBody, sealed_sha256: str) -> str:
    """The report as plain text, safe to print to a terminal."""
    view = build_view(report, packet=packet, sealed_sha256=sealed_sha256)
    lines = [f"CTT report {view.report_id}", "=" * 72, ""]
    for section in view.sections:
        lines += _text_section(section)
    lines.append(f"Reporter's text, as written (language: {view.free_text_language})")
    lines.append(_RULE)
    lines.append(_terminal_safe(view.free_text) if view.free_text is not None else "(none)")
    lines += [_RULE, ""]
    lines += _text_section(view.evidence)
    return "\n".join(lines)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("connectors", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: Report, *, packet: PacketBody, sealed_sha256: str) -> str:
    """The report as a standalone, printable HTML page (every value escaped)."""
    view = build_view(report, packet=packet, sealed_sha256=sealed_sha256)
    return (
        _environment()
        .get_template("report.html")
        .render(view=view, text_language=report.text_language or "")
    )
