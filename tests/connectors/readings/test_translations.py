"""The catalogues: one per reading language, complete, and in step with the schema they label."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from babel.messages.pofile import read_po

from connectors.readings.translations import (
    CATALOGUE_DIR,
    LocaleUnsupported,
    available_locales,
    catalogue,
    required_messages,
)
from schemas.report import PlaceKind

LOCALES = ["de", "en", "fr", "nl"]


def _entries(name: str) -> dict[tuple[str, str], str]:
    with (CATALOGUE_DIR / name).open("rb") as handle:
        parsed = read_po(handle)
    return {(m.context or "", str(m.id)): str(m.string) for m in parsed if m.id}


def test_there_is_a_catalogue_for_german_dutch_french_and_english() -> None:
    assert available_locales() == LOCALES


def test_the_template_lists_exactly_what_the_schema_and_the_renderings_need() -> None:
    """A field or code added to the schema fails here until every catalogue labels it."""
    assert set(_entries("messages.pot")) == required_messages()


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_in_every_catalogue(locale: str) -> None:
    entries = _entries(f"{locale}.po")
    assert set(entries) == required_messages()
    assert not [key for key, text in entries.items() if not text.strip()]


@pytest.mark.parametrize(
    ("locale", "label", "beach", "country"),
    [
        ("de", "Art des Ortes", "Strand", "TH (Thailand)"),
        ("nl", "Soort plaats", "strand", "TH (Thailand)"),
        ("fr", "Type de lieu", "plage", "TH (Thaïlande)"),
        ("en", "Kind of place", "beach", "TH (Thailand)"),
    ],
)
def test_labels_code_values_and_names_come_in_the_readers_language(
    locale: str, label: str, beach: str, country: str
) -> None:
    words = catalogue(locale)
    assert words.field("place_kind") == label
    assert words.code(PlaceKind.beach) == beach
    assert words.country("TH") == country


def test_dates_times_and_numbers_are_formatted_for_the_locale_with_the_iso_value_kept() -> None:
    german, french = catalogue("de"), catalogue("fr")
    assert german.date(date(2026, 10, 20)) == "20. Oktober 2026 (2026-10-20)"
    assert french.date(date(2026, 10, 20)) == "20 octobre 2026 (2026-10-20)"
    moment = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    assert german.datetime(moment, "Europe/Vienna").startswith("1. November 2026, 11:00:00 MEZ")
    assert german.datetime(moment, "Europe/Vienna").endswith("(2026-11-01T10:00:00+00:00)")
    assert german.number(1234) == "1.234"
    assert french.number(1234) == "1\u202f234"


def test_a_message_missing_from_a_catalogue_falls_back_to_english_never_to_nothing() -> None:
    german = catalogue("de")
    assert german.get("ui", "no-such-message") == "no-such-message"


def test_a_locale_without_catalogue_is_refused_by_name() -> None:
    with pytest.raises(LocaleUnsupported, match="'it'"):
        catalogue("it")
