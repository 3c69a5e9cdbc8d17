"""Tests for the common report schema, version 1."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import (
    SCHEMA_FILE,
    Category,
    Gender,
    PlaceKind,
    Report,
    report_json_schema,
)

Loc = tuple[int | str, ...]

ANONYMOUS: dict[str, Any] = {"kind": "anonymous"}
CONTACT: dict[str, Any] = {
    "kind": "contact",
    "name": "Jane Doe",
    "email": "jane@example.org",
    "phone": "+43 (1) 234-5678",
    "consent_to_contact": True,
    "preferred_language": "de",
}


def valid_report() -> dict[str, Any]:
    """Return a fresh, valid anonymous report as plain JSON-like data."""
    return {
        "schema_version": 1,
        "report_id": "6f1c1a2e-8a59-4c1e-9a53-1f0b5f3d2c7a",
        "source": "portal-at",
        "submitted_at": "2024-03-05T10:00:00+01:00",
        "reporter": copy.deepcopy(ANONYMOUS),
        "incident": {
            "country": "TH",
            "place": "Pattaya",
            "place_kind": "hotel",
            "date_from": "2024-02-20",
            "date_to": "2024-02-22",
            "description": "A tourist took a child to his hotel room.",
        },
        "suspects": [{"nationality": "AT", "approximate_age": 55}],
        "children": {"count": 1, "approximate_ages": [12], "gender": "female"},
        "category": "travel_and_tourism",
        "text_language": "de",
        "free_text": None,
    }


def error_locs(data: dict[str, Any]) -> list[Loc]:
    """Validate data that must be rejected and return the locations of its errors."""
    with pytest.raises(ValidationError) as excinfo:
        Report.model_validate(data)
    return [tuple(error["loc"]) for error in excinfo.value.errors()]


def error_for(data: dict[str, Any], loc: Loc) -> dict[str, Any]:
    """Validate data that must be rejected and return its error located at loc."""
    with pytest.raises(ValidationError) as excinfo:
        Report.model_validate(data)
    errors = [dict(e) for e in excinfo.value.errors() if tuple(e["loc"]) == loc]
    assert errors, f"no error at {loc}: {excinfo.value.errors()}"
    return errors[0]


def days_from_today(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def test_valid_anonymous_report_validates() -> None:
    report = Report.model_validate(valid_report())
    assert report.reporter.kind == "anonymous"
    assert report.report_id == UUID("6f1c1a2e-8a59-4c1e-9a53-1f0b5f3d2c7a")
    assert report.incident.place_kind is PlaceKind.hotel


def test_valid_contact_report_validates() -> None:
    data = valid_report()
    data["reporter"] = copy.deepcopy(CONTACT)
    report = Report.model_validate(data)
    assert report.reporter.kind == "contact"
    assert report.reporter.email == "jane@example.org"


def test_contact_with_phone_only_validates() -> None:
    data = valid_report()
    data["reporter"] = {**CONTACT, "email": None}
    assert Report.model_validate(data).reporter.kind == "contact"


def test_minimal_report_takes_defaults() -> None:
    data = valid_report()
    for key in ("suspects", "text_language", "free_text"):
        del data[key]
    data["children"] = {"count": 2}
    report = Report.model_validate(data)
    assert report.suspects == []
    assert report.children.gender is Gender.unknown


def test_models_are_frozen() -> None:
    report = Report.model_validate(valid_report())
    with pytest.raises(ValidationError):
        report.source = "other"  # type: ignore[misc]


def test_missing_incident_country_is_rejected() -> None:
    data = valid_report()
    del data["incident"]["country"]
    assert error_for(data, ("incident", "country"))["type"] == "missing"


def test_unknown_top_level_field_is_rejected() -> None:
    data = valid_report()
    data["surprise"] = 1
    assert error_for(data, ("surprise",))["type"] == "extra_forbidden"


def test_unknown_nested_field_is_rejected() -> None:
    data = valid_report()
    data["incident"]["surprise"] = 1
    assert error_for(data, ("incident", "surprise"))["type"] == "extra_forbidden"


@pytest.mark.parametrize("code", ["XX", "ZZ"])
def test_unreal_incident_country_is_rejected(code: str) -> None:
    data = valid_report()
    data["incident"]["country"] = code
    error = error_for(data, ("incident", "country"))
    assert error["msg"] == "not an ISO 3166-1 alpha-2 country code"


def test_unreal_suspect_nationality_is_rejected() -> None:
    data = valid_report()
    data["suspects"][0]["nationality"] = "XX"
    error = error_for(data, ("suspects", 0, "nationality"))
    assert error["msg"] == "not an ISO 3166-1 alpha-2 country code"


def test_lowercase_country_is_rejected() -> None:
    data = valid_report()
    data["incident"]["country"] = "th"
    assert error_for(data, ("incident", "country"))["type"] == "string_pattern_mismatch"


def test_future_incident_date_is_rejected() -> None:
    data = valid_report()
    data["incident"]["date_from"] = days_from_today(3)
    data["incident"]["date_to"] = None
    assert "future" in error_for(data, ("incident", "date_from"))["msg"]


def test_future_incident_end_date_is_rejected() -> None:
    data = valid_report()
    data["incident"]["date_to"] = days_from_today(3)
    assert "future" in error_for(data, ("incident", "date_to"))["msg"]


def test_incident_date_of_tomorrow_is_allowed_for_time_zones() -> None:
    data = valid_report()
    data["incident"]["date_from"] = days_from_today(1)
    data["incident"]["date_to"] = None
    data["submitted_at"] = datetime.now(UTC).isoformat()
    assert Report.model_validate(data).incident.date_from > date(2024, 1, 1)


def test_date_to_before_date_from_is_rejected() -> None:
    data = valid_report()
    data["incident"]["date_to"] = "2024-02-19"
    assert error_for(data, ("incident", "date_to"))["type"] == "date_order"


def test_future_submitted_at_is_rejected() -> None:
    data = valid_report()
    data["submitted_at"] = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    assert "future" in error_for(data, ("submitted_at",))["msg"]


def test_naive_submitted_at_is_rejected() -> None:
    data = valid_report()
    data["submitted_at"] = "2024-03-05T10:00:00"
    assert error_for(data, ("submitted_at",))["type"] == "timezone_aware"


def test_oversized_incident_description_is_rejected() -> None:
    data = valid_report()
    data["incident"]["description"] = "x" * 10_001
    assert error_for(data, ("incident", "description"))["type"] == "string_too_long"


def test_too_many_suspects_are_rejected() -> None:
    data = valid_report()
    data["suspects"] = [{} for _ in range(21)]
    assert error_for(data, ("suspects",))["type"] == "too_long"


@pytest.mark.parametrize("consent", [False, None, "yes"])
def test_contact_reporter_without_consent_is_rejected(consent: object) -> None:
    data = valid_report()
    data["reporter"] = {**CONTACT, "consent_to_contact": consent}
    assert error_locs(data) == [("reporter", "contact", "consent_to_contact")]


def test_contact_reporter_with_missing_consent_is_rejected() -> None:
    data = valid_report()
    data["reporter"] = copy.deepcopy(CONTACT)
    del data["reporter"]["consent_to_contact"]
    assert error_locs(data) == [("reporter", "contact", "consent_to_contact")]


def test_contact_without_email_and_phone_is_rejected() -> None:
    data = valid_report()
    data["reporter"] = {**CONTACT, "email": None}
    del data["reporter"]["phone"]
    error = error_for(data, ("reporter", "contact", "email"))
    assert error["msg"] == "email or phone is required"


def test_contact_with_bad_phone_reports_only_the_phone() -> None:
    data = valid_report()
    data["reporter"] = {**CONTACT, "email": None, "phone": "call me"}
    assert error_locs(data) == [("reporter", "contact", "phone")]


@pytest.mark.parametrize("code", ["xx", "DE", "deu", "english"])
def test_bad_preferred_language_is_rejected(code: str) -> None:
    data = valid_report()
    data["reporter"] = {**CONTACT, "preferred_language": code}
    assert error_locs(data) == [("reporter", "contact", "preferred_language")]


def test_bad_text_language_is_rejected() -> None:
    data = valid_report()
    data["text_language"] = "xx"
    assert error_for(data, ("text_language",))["msg"] == "not an ISO 639-1 language code"


@pytest.mark.parametrize("version", [2, 0, "1"])
def test_other_schema_version_is_rejected(version: object) -> None:
    data = valid_report()
    data["schema_version"] = version
    assert error_locs(data) == [("schema_version",)]


def test_more_child_ages_than_children_is_rejected() -> None:
    data = valid_report()
    data["children"] = {"count": 1, "approximate_ages": [8, 9]}
    assert error_locs(data) == [("children", "approximate_ages")]


@pytest.mark.parametrize("source", ["Portal-AT", "-portal", "p", "portal_at", "a" * 64])
def test_bad_source_id_is_rejected(source: str) -> None:
    data = valid_report()
    data["source"] = source
    assert error_locs(data) == [("source",)]


def short_text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=max_size)


COUNTRIES = st.sampled_from(["AT", "BE", "DE", "NL", "TH", "KH", "BR", "KE"])
LANGUAGES = st.sampled_from(["de", "nl", "fr", "en", "th"])
PAST_DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2024, 12, 31))

reporters = st.one_of(
    st.just({"kind": "anonymous"}),
    st.fixed_dictionaries(
        {
            "kind": st.just("contact"),
            "email": st.just("someone@example.org"),
            "consent_to_contact": st.just(True),
            "preferred_language": LANGUAGES,
        },
        optional={"name": short_text(200), "phone": st.just("+32 2 123 45 67")},
    ),
)
incidents = st.tuples(PAST_DATES, st.integers(min_value=0, max_value=30)).flatmap(
    lambda span: st.fixed_dictionaries(
        {
            "country": COUNTRIES,
            "place": short_text(200),
            "place_kind": st.sampled_from(list(PlaceKind)),
            "date_from": st.just(span[0].isoformat()),
            "date_to": st.sampled_from([None, (span[0] + timedelta(days=span[1])).isoformat()]),
            "description": short_text(500),
        }
    )
)
suspects = st.fixed_dictionaries(
    {},
    optional={
        "nationality": COUNTRIES,
        "residence_country": COUNTRIES,
        "description": short_text(200),
        "approximate_age": st.integers(min_value=10, max_value=110),
        "name": short_text(200),
        "vehicle_or_travel": short_text(200),
    },
)
children = st.integers(min_value=1, max_value=100).flatmap(
    lambda count: st.fixed_dictionaries(
        {
            "count": st.just(count),
            "approximate_ages": st.lists(
                st.integers(min_value=0, max_value=17), max_size=min(count, 5)
            ),
            "gender": st.sampled_from(list(Gender)),
        }
    )
)
reports = st.fixed_dictionaries(
    {
        "schema_version": st.just(1),
        "report_id": st.uuids(version=4).map(str),
        "source": st.sampled_from(["portal-at", "portal-be", "portal-de", "platform-int"]),
        "submitted_at": st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2024, 12, 31),
            timezones=st.sampled_from(
                [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5))]
            ),
        ).map(datetime.isoformat),
        "reporter": reporters,
        "incident": incidents,
        "suspects": st.lists(suspects, max_size=3),
        "children": children,
        "category": st.sampled_from(list(Category)),
    },
    optional={"text_language": LANGUAGES, "free_text": short_text(1000)},
)


@settings(database=None, deadline=None, max_examples=100)
@given(data=reports)
def test_any_valid_report_round_trips_through_json(data: dict[str, Any]) -> None:
    report = Report.model_validate(data)
    assert Report.model_validate_json(report.model_dump_json()) == report


def test_committed_json_schema_matches_the_models() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.is_file() else ""
    assert committed == report_json_schema(), (
        f"{SCHEMA_FILE.name} is out of date with schemas/report.py; run `python -m schemas`"
    )


def test_json_schema_forbids_additional_properties() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False
    objects = [d for d in schema["$defs"].values() if d.get("type") == "object"]
    assert objects
    assert all(d["additionalProperties"] is False for d in objects)


def test_the_json_schema_says_a_contact_reporter_needs_an_email_or_a_phone() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    contact = schema["$defs"]["ContactReporter"]
    assert {tuple(option["required"]) for option in contact["anyOf"]} == {("email",), ("phone",)}


def test_the_json_schema_admits_only_version_4_report_ids() -> None:
    pattern = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["properties"]["report_id"][
        "pattern"
    ]
    assert re.fullmatch(pattern, str(uuid4()))
    assert not re.fullmatch(pattern, "00000000-0000-0000-0000-000000000000")
    assert not re.fullmatch(pattern, "6f1c1d3e-8f9a-1b6e-9c7d-2a4b5c6d7e8f")
    assert not re.fullmatch(pattern, str(uuid4()).upper())  # UUIDs are lowercase (protocol §4)
