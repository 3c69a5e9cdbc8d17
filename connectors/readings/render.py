"""Readable renderings of a report, as plain text and printable HTML, in the reader's language.

Every rendering (text, HTML, and the PDF in `connectors.readings.pdf`) is built from one view, so
they show the same thing: every field of the report with labels and code values from the locale's
catalogue (`connectors.readings.translations`), dates, times and numbers formatted for the locale,
the reporter's own text exactly as written and marked with its language, and the evidence that ties
the report to the packet it came in: ids, times, the sealed SHA-256, the hub's signature and key id,
and this recipient's receipt when there is one. Evidence values are printed verbatim (ISO times,
hex, base64) so that they can be checked against the files.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

import jinja2
from pydantic import BaseModel, ValidationError

from connectors.readings.translations import Catalogue, catalogue
from hub.errors import PacketInvalid
from schemas.envelope import Envelope, PacketBody, ReceiptBody
from schemas.report import Report

__all__ = [
    "ReportView",
    "Row",
    "Section",
    "build_view",
    "render_html",
    "render_text",
    "visible",
]

_COUNTRY_FIELDS = {"country", "nationality", "residence_country"}
_LANGUAGE_FIELDS = {"text_language", "preferred_language"}
_NUMBER_FIELDS = {"count", "approximate_age", "approximate_ages"}
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
    """Everything a rendering shows, already turned into labelled strings in one locale."""

    locale: str
    title: str
    report_id: str
    packet_id: str
    sealed_sha256: str
    sections: list[Section]
    free_text: str | None
    free_text_heading: str
    text_language: str
    none_text: str
    evidence: Section
    evidence_note: str
    times_note: str
    neutralised_note: str | None  # says how many characters were made visible, if any
    page_label: str  # "Page {page} of {pages}", for the PDF's footer


def _value(name: str, value: Any, words: Catalogue, timezone: str) -> str:
    if value is None or value == []:
        return words.ui("not_given")
    if isinstance(value, bool):
        return words.ui("yes") if value else words.ui("no")
    if isinstance(value, Enum):
        return words.code(value)
    if isinstance(value, datetime):
        return words.datetime(value, timezone)
    if isinstance(value, date):
        return words.date(value)
    if isinstance(value, list):
        return ", ".join(_value(name, item, words, timezone) for item in value)
    if isinstance(value, int) and name in _NUMBER_FIELDS:
        return words.number(value)
    if name in _COUNTRY_FIELDS:
        return words.country(str(value))
    if name in _LANGUAGE_FIELDS:
        return words.language(str(value))
    if name == "kind":
        return words.code(str(value), "reporter_kind")
    return str(value)


def _sections(title: str, model: BaseModel, words: Catalogue, timezone: str) -> list[Section]:
    """A section for `model`'s plain fields, followed by one per nested model, recursively."""
    rows: list[Row] = []
    nested: list[Section] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name == _FREE_TEXT:
            continue
        if isinstance(value, BaseModel):
            nested += _sections(words.field(name), value, words, timezone)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            for index, item in enumerate(value, start=1):
                nested += _sections(words.ui("suspect_n", number=index), item, words, timezone)
        else:
            rows.append(Row(words.field(name), _value(name, value, words, timezone)))
    return [Section(title, rows), *nested]


def _receipt_body(receipt: Envelope, packet: PacketBody, sealed_sha256: str) -> ReceiptBody:
    """The receipt's statement, checked to be about this packet. Raises PacketInvalid."""
    try:
        body = ReceiptBody.model_validate_json(base64.b64decode(receipt.payload, validate=True))
    except (binascii.Error, ValueError, ValidationError) as exc:
        raise PacketInvalid() from exc
    if body.packet_id != packet.packet_id or body.sealed_sha256 != sealed_sha256:
        raise PacketInvalid()
    return body


def _evidence(
    words: Catalogue,
    report: Report,
    packet: PacketBody,
    sealed_sha256: str,
    envelope: Envelope | None,
    receipt: Envelope | None,
) -> Section:
    missing = words.ui("not_available")
    rows = [
        Row(words.field("report_id"), str(report.report_id)),
        Row(words.ui("packet_id"), str(packet.packet_id)),
        Row(words.ui("recipient"), packet.recipient_id),
        Row(words.ui("sealed_at"), packet.sealed_at.isoformat()),
        Row(words.ui("recipient_key_id"), packet.recipient_key_id),
        Row(words.ui("sealed_sha256"), sealed_sha256),
        Row(
            words.ui("hub_key_id"),
            ", ".join(s.keyid for s in envelope.signatures) if envelope else missing,
        ),
        Row(
            words.ui("hub_signature"),
            ", ".join(s.sig for s in envelope.signatures) if envelope else missing,
        ),
    ]
    if receipt is None:
        rows.append(Row(words.ui("receipt_received_at"), words.ui("no_receipt")))
    else:
        body = _receipt_body(receipt, packet, sealed_sha256)
        rows += [
            Row(words.ui("receipt_received_at"), body.received_at.isoformat()),
            Row(words.ui("receipt_key_id"), ", ".join(s.keyid for s in receipt.signatures)),
            Row(words.ui("receipt_signature"), ", ".join(s.sig for s in receipt.signatures)),
        ]
    return Section(words.ui("evidence"), rows)


def build_view(
    report: Report,
    *,
    packet: PacketBody,
    sealed_sha256: str,
    locale: str = "en",
    timezone: str = "UTC",
    envelope: Envelope | None = None,
    receipt: Envelope | None = None,
) -> ReportView:
    """Turn a report and its packet into labelled strings in `locale`, one row per field.

    `timezone` is where the reader's clock is; `envelope` (the signed packet) and `receipt`
    (this recipient's signed receipt) add the hub's signature and the receipt to the evidence.
    Raises LocaleUnsupported for a locale without a catalogue, PacketInvalid for a receipt that
    is not about this packet.
    """
    words = catalogue(locale)
    # Every value a reading shows passes `visible` here, once, so the text, HTML and PDF
    # readings neutralise the same characters and all say so.
    raw = _sections(words.ui("report"), report, words, timezone)
    raw.append(_evidence(words, report, packet, sealed_sha256, envelope, receipt))
    count = sum(_hostile(row.value) for s in raw for row in s.rows) + _hostile(
        report.free_text or ""
    )
    *sections, evidence = [_neutralised(s) for s in raw]
    free_text = visible(report.free_text) if report.free_text is not None else None
    language = (
        words.language(report.text_language) if report.text_language else words.ui("not_stated")
    )
    return ReportView(
        locale=locale,
        title=words.ui("document_title", report_id=report.report_id),
        report_id=str(report.report_id),
        packet_id=str(packet.packet_id),
        sealed_sha256=sealed_sha256,
        sections=sections,
        free_text=free_text,
        free_text_heading=words.ui("free_text_heading", language=language),
        text_language=report.text_language or "",
        none_text=words.ui("none"),
        evidence=evidence,
        evidence_note=words.ui("evidence_note"),
        times_note=words.ui("times_in", timezone=timezone),
        neutralised_note=words.ui("neutralised", count=count) if count else None,
        page_label=words.ui("page", page="{page}", pages="{pages}"),
    )


# Characters that change the direction text is laid out in: U+202E can make "gpj.exe" read as
# "exe.jpg", or a sentence read backwards (Trojan Source, CVE-2021-42574).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def visible(text: str) -> str:
    """`text` with control and bidi characters made visible as \\uXXXX; newlines and tabs kept.

    Control characters (ANSI escapes above all) could rewrite what a terminal or printer shows;
    bidi controls could reorder what a reader sees.
    """
    text = text.replace("\r\n", "\n")
    return "".join(c if c in "\n\t" or not _is_control(c) else f"\\u{ord(c):04x}" for c in text)


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029" or char in _BIDI


def _hostile(text: str) -> int:
    """How many characters of `text` `visible` neutralises."""
    return sum(1 for c in text.replace("\r\n", "\n") if c not in "\n\t" and _is_control(c))


def _neutralised(section: Section) -> Section:
    return Section(section.title, [Row(r.label, visible(r.value)) for r in section.rows])


_WIDTH = 34
_RULE = "-" * 72


def _text_row(row: Row) -> list[str]:
    value = visible(row.value)
    if "\n" not in value:
        return [f"  {row.label + ':':<{_WIDTH}}{value}"]
    return [f"  {row.label}:", *(f"      {line}" for line in value.split("\n"))]


def _text_section(section: Section) -> list[str]:
    return [section.title, *(line for row in section.rows for line in _text_row(row)), ""]


def render_text(
    report: Report,
    *,
    packet: PacketBody,
    sealed_sha256: str,
    locale: str = "en",
    timezone: str = "UTC",
    envelope: Envelope | None = None,
    receipt: Envelope | None = None,
) -> str:
    """The report as plain text in `locale`, safe to print to a terminal. Raises like build_view."""
    view = build_view(
        report,
        packet=packet,
        sealed_sha256=sealed_sha256,
        locale=locale,
        timezone=timezone,
        envelope=envelope,
        receipt=receipt,
    )
    lines = [view.title, "=" * 72, view.times_note, ""]
    if view.neutralised_note is not None:
        lines[3:3] = [view.neutralised_note]
    for section in view.sections:
        lines += _text_section(section)
    lines.append(view.free_text_heading)
    lines.append(_RULE)
    lines.append(visible(view.free_text) if view.free_text is not None else view.none_text)
    lines += [_RULE, ""]
    lines += _text_section(view.evidence)
    lines.append(view.evidence_note)
    return "\n".join(lines)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("connectors.readings", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    report: Report,
    *,
    packet: PacketBody,
    sealed_sha256: str,
    locale: str = "en",
    timezone: str = "UTC",
    envelope: Envelope | None = None,
    receipt: Envelope | None = None,
) -> str:
    """The report as a standalone, printable HTML page in `locale` (every value escaped).

    Raises like build_view.
    """
    view = build_view(
        report,
        packet=packet,
        sealed_sha256=sealed_sha256,
        locale=locale,
        timezone=timezone,
        envelope=envelope,
        receipt=receipt,
    )
    return _environment().get_template("report.html").render(view=view)
