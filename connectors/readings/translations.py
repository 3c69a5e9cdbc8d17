"""Labels and code values in the reader's language, from gettext catalogues, and locale formats.

The catalogues are Babel/gettext `.po` files under `connectors/readings/i18n/`, one per locale, read
at run time with Babel (nothing to compile). Every message has a context that says what it names:

    field           a field of the report schema, by its name       (msgid "place_kind")
    place_kind, category, gender, reporter_kind
                    a code value of the schema, by its code         (msgid "private_home")
    ui              a heading or an evidence label of the renderings (msgid "evidence")

`messages.pot` lists every message the renderings need; `required_messages()` derives the same
list from the schema, and a test keeps the two and every catalogue in step. Country and language
names come from CLDR through Babel; dates, times and numbers are formatted by Babel for the locale.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from pydantic import BaseModel

from connectors.errors import ConnectorError
from schemas.report import Category, Gender, PlaceKind, Report

__all__ = [
    "CATALOGUE_DIR",
    "CODE_CONTEXTS",
    "UI_MESSAGES",
    "Catalogue",
    "LocaleUnsupported",
    "available_locales",
    "catalogue",
    "required_messages",
]

CATALOGUE_DIR = Path(__file__).with_name("i18n")
FIELD = "field"
UI = "ui"
# The code values a rendering translates, by the context that holds them.
CODE_CONTEXTS: dict[str, tuple[str, ...]] = {
    "place_kind": tuple(v.value for v in PlaceKind),
    "category": tuple(v.value for v in Category),
    "gender": tuple(v.value for v in Gender),
    "reporter_kind": ("anonymous", "contact"),
}
_ENUM_CONTEXTS: dict[type[Enum], str] = {
    PlaceKind: "place_kind",
    Category: "category",
    Gender: "gender",
}
# Headings and evidence labels; the English text is only a reminder, en.po holds the real one.
UI_MESSAGES = (
    "document_title",  # CTT report {report_id}
    "report",
    "suspect_n",  # Suspect {number}
    "free_text_heading",  # Reporter's text, as written (language: {language})
    "not_stated",
    "none",
    "not_given",
    "yes",
    "no",
    "evidence",
    "evidence_note",
    "packet_id",
    "recipient",
    "sealed_at",
    "recipient_key_id",
    "sealed_sha256",
    "hub_key_id",
    "hub_signature",
    "receipt_received_at",
    "receipt_key_id",
    "receipt_signature",
    "no_receipt",
    "not_available",
    "times_in",  # Times in {timezone}
    "neutralised",  # {count} control or text-direction characters were replaced by \uXXXX codes
    "page",  # Page {page} of {pages}
)


class LocaleUnsupported(ConnectorError):
    """No catalogue exists for the locale asked for."""


def _field_names(model: type[BaseModel]) -> Iterator[str]:
    for name, info in model.model_fields.items():
        yield name
        for candidate in (info.annotation, *get_args(info.annotation)):
            for inner in (candidate, *get_args(candidate)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _field_names(inner)


def required_messages() -> set[tuple[str, str]]:
    """Every (context, msgid) the renderings may look up, derived from the schema itself."""
    needed = {(FIELD, name) for name in _field_names(Report)}
    needed |= {(context, code) for context, codes in CODE_CONTEXTS.items() for code in codes}
    return needed | {(UI, key) for key in UI_MESSAGES}


def available_locales() -> list[str]:
    """The locales that have a catalogue, e.g. ['de', 'en', 'fr', 'nl']."""
    return sorted(path.stem for path in CATALOGUE_DIR.glob("*.po"))


class Catalogue:
    """One locale's messages, with Babel's formats for dates, times, numbers and names."""

    def __init__(self, locale: str, messages: dict[tuple[str, str], str]) -> None:
        self.locale = locale
        self._messages = messages
        try:
            self._cldr = Locale.parse(locale)
        except (UnknownLocaleError, ValueError) as exc:
            raise LocaleUnsupported(f"{locale}: not a locale Babel knows") from exc

    def get(self, context: str, key: str, **params: Any) -> str:
        """The message for `key` in `context`; its `{name}` placeholders filled from `params`.

        A message missing here falls back to English, then to the key itself, so a catalogue
        that lags behind never hides a value (the catalogue test keeps shipped ones complete).
        """
        text = self._messages.get((context, key))
        if text is None:
            text = _english().get(context, key) if self.locale != "en" else key
        return text.format(**params) if params else text

    def field(self, name: str) -> str:
        """The label of a schema field."""
        return self.get(FIELD, name)

    def ui(self, key: str, **params: Any) -> str:
        """A heading or evidence label."""
        return self.get(UI, key, **params)

    def code(self, value: Enum | str, context: str | None = None) -> str:
        """A code value of the schema, e.g. PlaceKind.beach -> 'Strand' in German."""
        if isinstance(value, Enum):
            context = _ENUM_CONTEXTS.get(type(value), context)
            value = str(value.value)
        if context is None:
            return str(value)
        return self.get(context, value)

    def country(self, code: str) -> str:
        """'TH (Thailand)', the name in this locale; the code alone if CLDR has no name."""
        name = self._cldr.territories.get(code)
        return f"{code} ({name})" if name else code

    def language(self, code: str) -> str:
        """'nl (Niederländisch)', the name in this locale; the code alone if unknown."""
        name = self._cldr.languages.get(code)
        return f"{code} ({name})" if name else code

    def date(self, value: date) -> str:
        """A long date for this locale, then the ISO date: '20. Oktober 2026 (2026-10-20)'."""
        return f"{format_date(value, 'long', locale=self._cldr)} ({value.isoformat()})"

    def datetime(self, value: datetime, timezone: str = "UTC") -> str:
        """A long date and time in `timezone` for this locale, then the instant as given (ISO)."""
        local = format_datetime(value, "long", tzinfo=ZoneInfo(timezone), locale=self._cldr)
        return f"{local} ({value.isoformat()})"

    def number(self, value: int) -> str:
        """An integer with this locale's digit grouping."""
        return format_decimal(value, locale=self._cldr)


def _read(locale: str) -> dict[tuple[str, str], str]:
    path = CATALOGUE_DIR / f"{locale}.po"
    try:
        with path.open("rb") as handle:
            parsed = read_po(handle, locale=locale)
    except FileNotFoundError as exc:
        raise LocaleUnsupported(
            f"no catalogue for {locale!r} (available: {', '.join(available_locales())})"
        ) from exc
    messages = {}
    for message in parsed:
        usable = isinstance(message.id, str) and isinstance(message.string, str)
        if usable and message.id and message.string and not message.fuzzy:
            messages[(message.context or "", str(message.id))] = str(message.string)
    return messages


@functools.cache
def catalogue(locale: str) -> Catalogue:
    """The catalogue of `locale` (read once). Raises LocaleUnsupported if there is none."""
    if locale not in available_locales():
        raise LocaleUnsupported(
            f"no catalogue for {locale!r} (available: {', '.join(available_locales())})"
        )
    return Catalogue(locale, _read(locale))


def _english() -> Catalogue:
    return catalogue("en")
