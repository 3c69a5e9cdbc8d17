"""Country profiles as data: the network's five, their calendars, and what a bad one says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.countries.profiles import (
    ProfileInvalid,
    ProfileNotFound,
    load_profile,
    load_profiles,
)

DEMO_LISTING = {
    "AT": {"at-section", "at-police"},
    "BE": {"be-section", "be-police"},
    "DE": {"de-section", "de-police"},
    "NL": {"nl-section", "nl-police"},
    "INT": {"network-coordinator"},
}


def test_the_four_countries_and_the_international_platform_are_profiles() -> None:
    profiles = load_profiles()
    assert set(profiles.by_code) == set(DEMO_LISTING)
    for code, recipients in DEMO_LISTING.items():
        assert {r.id for r in profiles.get(code).recipients} == recipients


@pytest.mark.parametrize(
    ("code", "languages", "police_reads"),
    [
        ("AT", ["de", "en"], ["de"]),
        ("DE", ["de", "en"], ["de"]),
        ("BE", ["nl", "fr", "en"], ["nl", "fr"]),
        ("NL", ["nl", "en"], ["nl"]),
    ],
)
def test_each_country_works_in_its_own_languages_and_english(
    code: str, languages: list[str], police_reads: list[str]
) -> None:
    profile = load_profiles().get(code)
    assert profile.languages == languages
    (police,) = [r for r in profile.recipients if r.kind == "police"]
    assert police.languages == police_reads
    assert {r.delivery_mode for r in profile.recipients} == {"pull"}
    assert set(profile.portals[0].forms) == set(languages)


def test_calendars_name_a_subdivision_where_holidays_differ_inside_the_country() -> None:
    profiles = load_profiles()
    assert (profiles.get("DE").calendar.holidays, profiles.get("DE").calendar.subdivision) == (
        "DE",
        "HE",
    )
    assert profiles.get("AT").calendar.subdivision == "9"
    assert profiles.get("BE").calendar.subdivision is None
    assert profiles.get("INT").calendar.holidays is None
    assert all(profiles.get(code).calendar.why for code in DEMO_LISTING)


def test_codes_are_found_in_any_case_and_unknown_ones_are_named() -> None:
    profiles = load_profiles()
    assert profiles.get("int").code == "INT"
    with pytest.raises(ProfileNotFound, match="no profile FR"):
        profiles.get("FR")


def _write(folder: Path, code: str, text: str) -> Path:
    path = folder / code.lower() / "profile.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_profile_with_an_unknown_subdivision_or_time_zone_names_the_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "XX",
        'code = "LU"\nname = "Luxembourg"\ncountry = "LU"\nlanguages = ["fr", "en"]\n'
        'timezone = "Europe/Nowhere"\n[calendar]\nholidays = "DE"\nsubdivision = "ZZ"\n',
    )
    with pytest.raises(ProfileInvalid) as raised:
        load_profile(path)
    message = str(raised.value)
    assert "timezone" in message
    assert "calendar" in message
    assert "subdivision ZZ" in message


def test_english_is_required_in_every_profile(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "LU",
        'code = "LU"\nname = "Luxembourg"\ncountry = "LU"\nlanguages = ["fr"]\n'
        'timezone = "Europe/Luxembourg"\n',
    )
    with pytest.raises(ProfileInvalid, match="must include en"):
        load_profile(path)


def test_a_recipient_claimed_by_two_profiles_is_refused(tmp_path: Path) -> None:
    shipped = (
        Path(__file__).resolve().parents[3] / "connectors" / "countries" / "at" / "profile.toml"
    ).read_text()
    without_portal = shipped.split("[[portals]]")[0]
    _write(tmp_path, "XA", without_portal.replace('code = "AT"', 'code = "XA"'))
    with pytest.raises(ProfileInvalid, match="at-section is also in profile AT"):
        load_profiles([tmp_path])


def test_every_file_a_profile_names_exists() -> None:
    for profile in load_profiles().by_code.values():
        for portal in profile.portals:
            assert profile.path(portal.mapping).is_file()
            for form in portal.forms.values():
                assert isinstance(json.loads(profile.path(form).read_text()), dict)
