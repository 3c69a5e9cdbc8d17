"""Portal adapters: each portal's form, in its field names and language, becomes a report by
its mapping alone; what the mapping does not know is carried, what it cannot map is named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from connectors.cli.main import app
from connectors.countries.profiles import load_profiles
from connectors.portal.mapping import (
    UNMAPPED_HEADING,
    FormInvalid,
    MappingInvalid,
    PortalMapping,
    load_mapping,
    map_form,
    mapping_for,
)
from schemas.report import Report

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SAMPLES = [
    (portal.id, language)
    for profile in load_profiles().by_code.values()
    for portal in profile.portals
    for language in portal.forms
]


def _sample(portal: str, language: str) -> tuple[dict[str, Any], PortalMapping, str]:
    mapping, profile = mapping_for(portal, load_profiles())
    form = json.loads(profile.path(profile.portal(portal).forms[language]).read_text())
    return form, mapping, profile.timezone


def _map(portal: str, form: dict[str, Any]) -> Report:
    mapping, profile = mapping_for(portal, load_profiles())
    return map_form(form, mapping, now=NOW, timezone=profile.timezone)


def test_there_is_a_sample_form_in_each_language_of_each_of_the_five_portals() -> None:
    assert sorted(SAMPLES) == sorted(
        [("portal-at", "de"), ("portal-at", "en"), ("portal-de", "de"), ("portal-de", "en")]
        + [("portal-be", "nl"), ("portal-be", "fr"), ("portal-be", "en")]
        + [("portal-nl", "nl"), ("portal-nl", "en")]
        + [("platform-int", lang) for lang in ("en", "de", "nl", "fr")]
    )


@pytest.mark.parametrize(("portal", "language"), SAMPLES)
def test_each_sample_form_becomes_a_valid_report_in_its_language(
    portal: str, language: str
) -> None:
    form, mapping, zone = _sample(portal, language)
    report = map_form(form, mapping, now=NOW, timezone=zone)
    assert report.source == portal
    assert report.text_language == language
    assert report.suspects, "every sample names a suspect"
    assert report.category.value == "travel_and_tourism"
    assert report.submitted_at < NOW


def test_the_portals_own_words_become_the_schemas_codes() -> None:
    form, mapping, zone = _sample("portal-at", "de")
    report = map_form(form, mapping, now=NOW, timezone=zone)
    assert report.incident.country == "TH"  # "Thailand", a CLDR country name in German
    assert report.incident.place_kind.value == "beach"  # "Strand"
    assert report.suspects[0].nationality == "AT"  # "österreichisch", a mapping entry
    assert report.children.approximate_ages == [9, 12]  # "9, 12"
    assert report.children.gender.value == "female"  # "Mädchen"
    assert report.incident.date_from.isoformat() == "2026-10-18"  # "18.10.2026"
    assert report.submitted_at.isoformat() == "2026-11-02T14:05:00+01:00"  # Vienna's time


def test_words_match_whatever_their_case_accents_and_spacing() -> None:
    form, mapping, zone = _sample("portal-at", "de")
    form["tatort"] |= {"land": "  thailand ", "art": "STRASSE"}
    form["verdaechtige"][0]["staatsangehoerigkeit"] = "Osterreichisch"
    report = map_form(form, mapping, now=NOW, timezone=zone)
    assert report.incident.country == "TH"
    assert report.incident.place_kind.value == "street"
    assert report.suspects[0].nationality == "AT"


def test_an_iso_country_code_is_understood_too() -> None:
    form, mapping, zone = _sample("platform-int", "en")
    form["country"] = "KH"
    assert map_form(form, mapping, now=NOW, timezone=zone).incident.country == "KH"


def test_fields_the_mapping_does_not_know_are_carried_into_the_free_text() -> None:
    form, mapping, zone = _sample("portal-at", "de")
    form["verdaechtige"][0]["tattoo"] = "Anker am Unterarm"
    report = map_form(form, mapping, now=NOW, timezone=zone)
    assert report.free_text is not None
    written, carried = report.free_text.split("\n\n" + UNMAPPED_HEADING.format(portal="portal-at"))
    assert written == form["weitere_angaben"]
    assert carried.strip().splitlines() == [
        "verdaechtige[1].tattoo: Anker am Unterarm",
        "hotelname: Sunset Beach Resort",
        "uhrzeit_beobachtung: gegen 17 Uhr",
    ]
    assert "formularversion" not in report.free_text  # ignored on purpose, by the mapping


def test_unknown_fields_become_the_free_text_when_the_reporter_wrote_none() -> None:
    form, mapping, zone = _sample("portal-nl", "en")
    form["hotel_room"] = 12
    report = map_form(form, mapping, now=NOW, timezone=zone)
    assert report.free_text == "--- portal-nl: form fields outside the common schema ---\n" + (
        "hotel_room: 12"
    )


def test_values_that_cannot_be_mapped_are_all_named_by_their_form_field() -> None:
    form, mapping, zone = _sample("portal-at", "de")
    form["tatort"]["art"] = "Kreuzfahrtschiff"
    form["zeitraum"]["von"] = "2026-10-18"
    form["kinder"]["anzahl"] = "zwei"
    form["verdaechtige"][0]["staatsangehoerigkeit"] = "Atlantis"
    with pytest.raises(FormInvalid) as raised:
        map_form(form, mapping, now=NOW, timezone=zone)
    assert dict(raised.value.errors) == {
        "tatort.art": "not in vocabulary ortsarten",
        "zeitraum.von": "expected a date like 31.12.2026",
        "kinder.anzahl": "expected a whole number",
        "verdaechtige[1].staatsangehoerigkeit": "not in vocabulary staatsangehoerigkeiten",
    }
    assert "Kreuzfahrtschiff" not in str(raised.value)  # report content is never quoted


def test_schema_errors_after_mapping_name_the_form_field_they_came_from() -> None:
    form, mapping, zone = _sample("portal-at", "de")
    form["zeitraum"]["bis"] = "01.10.2026"  # before "von"
    del form["beobachtung"]
    with pytest.raises(FormInvalid) as raised:
        map_form(form, mapping, now=NOW, timezone=zone)
    fields = [name for name, _ in raised.value.errors]
    assert "zeitraum.bis (incident.date_to)" in fields
    assert "beobachtung (incident.description)" in fields


def test_the_report_id_is_derived_from_the_portals_own_id_so_a_resent_form_is_the_same() -> None:
    form, mapping, zone = _sample("portal-be", "nl")
    first = map_form(form, mapping, now=NOW, timezone=zone)
    again = map_form(form, mapping, now=NOW, timezone=zone)
    assert first.report_id == again.report_id
    assert first.report_id.version == 4, "the hub takes version 4 ids only"
    form["ref"] = "BE-NL-2026-0382"
    assert map_form(form, mapping, now=NOW, timezone=zone).report_id != first.report_id
    chosen = "0b8a4f7e-8f0c-4c59-9a8e-3f4f6b1d2c3e"
    form["ref"] = chosen
    assert map_form(form, mapping, now=NOW, timezone=zone).report_id == UUID(chosen)


def test_a_form_without_its_id_or_submission_time() -> None:
    form, mapping, zone = _sample("platform-int", "de")
    del form["submitted"]
    assert map_form(form, mapping, now=NOW, timezone=zone).submitted_at == NOW
    del form["reference"]
    with pytest.raises(FormInvalid, match="reference: missing"):
        map_form(form, mapping, now=NOW, timezone=zone)


def test_a_bilingual_portal_maps_both_of_its_field_vocabularies() -> None:
    dutch = _map("portal-be", _sample("portal-be", "nl")[0])
    french = _map("portal-be", _sample("portal-be", "fr")[0])
    assert dutch.incident.country == "PH"  # "Filipijnen"
    assert french.incident.country == "MA"  # "Maroc"
    assert french.reporter.kind == "contact"
    assert french.suspects[0].residence_country == "BE"  # "Belgique"


def _mapping_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "broken.mapping.toml"
    path.write_text(
        'portal = "portal-xx"\nlanguages = ["en"]\nid_field = "ref"\n' + extra, encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[fields]\nwhere = "incident.planet"\n', "incident.planet is not a field of the report"),
        (
            '[fields]\nkind = { to = "incident.place_kind", vocabulary = "kinds" }\n',
            "no vocabulary kinds",
        ),
        (
            '[fields]\n"people[].age" = "children.count"\n',
            "a list in the form needs a list in the report",
        ),
        (
            '[fields]\nk = { to = "incident.place_kind", vocabulary = "v" }\n'
            '[vocabularies.v.entries]\n"Beach" = "beach"\n"beach " = "bar"\n',
            "means two different codes",
        ),
    ],
)
def test_a_broken_mapping_is_refused_when_it_is_read_and_says_why(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(MappingInvalid, match=message):
        load_mapping(_mapping_file(tmp_path, text))


def test_connector_submit_dry_run_prints_the_mapped_report() -> None:
    profile, spec = load_profiles().portal("portal-nl")
    result = CliRunner().invoke(
        app, ["submit", str(profile.path(spec.forms["nl"])), "--portal", "portal-nl", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    report = Report.model_validate_json(result.stdout)
    assert report.incident.country == "ID"  # "Indonesië"


def test_connector_submit_names_the_bad_field_in_one_line(tmp_path: Path) -> None:
    form, _, _ = _sample("portal-nl", "nl")
    form["plaats_delict"]["soort"] = "Cruiseschip"
    path = tmp_path / "form.json"
    path.write_text(json.dumps(form), encoding="utf-8")
    result = CliRunner().invoke(app, ["submit", str(path), "--portal", "portal-nl", "--dry-run"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "connector: form for portal-nl is invalid: plaats_delict.soort: "
        "not in vocabulary soorten_plaats"
    )
