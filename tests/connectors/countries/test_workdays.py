"""Working days in each member's calendar: weekends and its public holidays count nothing."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.countries.profiles import ProfileNotFound
from connectors.countries.workdays import is_working_day, working_days_between
from tests.clock import SUITE_DATES
from tests.conftest import ROOT

VIENNA, BERLIN = ZoneInfo("Europe/Vienna"), ZoneInfo("Europe/Berlin")
BRUSSELS, AMSTERDAM = ZoneInfo("Europe/Brussels"), ZoneInfo("Europe/Amsterdam")
LATE_THRESHOLD = 2.0  # hub/oversight/standards.toml: S2's 48 hours, as days


@pytest.mark.parametrize(
    ("holiday", "zone", "start", "end", "there", "elsewhere"),
    [
        # Austria's National Day, Monday 26 October 2026: Friday noon to Tuesday noon.
        ("AT", VIENNA, datetime(2026, 10, 23, 12), datetime(2026, 10, 27, 12), 1.0, "DE"),
        # Armistice Day in Belgium, Wednesday 11 November 2026, and not in the Netherlands.
        ("BE", BRUSSELS, datetime(2026, 11, 10, 12), datetime(2026, 11, 12, 12), 1.0, "NL"),
        # King's Day in the Netherlands, Monday 27 April 2026.
        ("NL", AMSTERDAM, datetime(2026, 4, 24, 12), datetime(2026, 4, 28, 12), 1.0, "BE"),
        # Corpus Christi, Thursday 4 June 2026: a day off in Hesse, where the BKA sits.
        ("DE", BERLIN, datetime(2026, 6, 3, 12), datetime(2026, 6, 5, 12), 1.0, "NL"),
    ],
)
def test_a_delivery_over_a_national_holiday_counts_only_that_countrys_working_days(
    holiday: str,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    there: float,
    elsewhere: str,
) -> None:
    start, end = start.replace(tzinfo=zone), end.replace(tzinfo=zone)
    assert working_days_between(holiday, start, end) == pytest.approx(there)
    assert working_days_between(elsewhere, start, end) == pytest.approx(there + 1)


def test_reformation_day_is_a_working_day_for_the_german_liaison_in_hesse() -> None:
    # 31 October is a holiday in several eastern states, not in Hesse (2025: a Friday).
    assert is_working_day("DE", date(2025, 10, 31))
    assert not is_working_day("DE", date(2026, 6, 4))


def test_a_weekend_counts_nothing_and_parts_of_days_count_their_share() -> None:
    friday_4pm = datetime(2026, 11, 20, 16, tzinfo=VIENNA)
    monday_10am = datetime(2026, 11, 23, 10, tzinfo=VIENNA)
    assert working_days_between("AT", friday_4pm, monday_10am) == pytest.approx(18 / 24)


def test_a_whole_working_day_counts_one_even_when_the_clocks_change() -> None:
    # Sunday 29 March 2026 is 23 hours long in Vienna; Monday after it is an ordinary day.
    assert working_days_between(
        "AT", datetime(2026, 3, 27, tzinfo=VIENNA), datetime(2026, 3, 31, tzinfo=VIENNA)
    ) == pytest.approx(2.0)
    # Friday 30 October 2026, 00:00 to Monday 00:00 local, over the autumn change.
    assert working_days_between(
        "NL", datetime(2026, 10, 30, tzinfo=AMSTERDAM), datetime(2026, 11, 2, tzinfo=AMSTERDAM)
    ) == pytest.approx(1.0)


def test_days_are_the_countrys_own_calendar_days() -> None:
    # 23:30 UTC on Sunday 25 October is already Monday 26 October, a holiday, in Vienna.
    start = datetime(2026, 10, 25, 23, 30, tzinfo=UTC)
    end = datetime(2026, 10, 26, 22, 0, tzinfo=UTC)
    assert working_days_between("AT", start, end) == pytest.approx(0.0)
    assert working_days_between("INT", start, end) == pytest.approx(
        22 / 24
    )  # Monday 00:00 to 22:00


def test_the_international_platform_counts_monday_to_friday_without_holidays() -> None:
    christmas = datetime(2026, 12, 25, tzinfo=UTC)
    assert working_days_between("INT", christmas, christmas.replace(day=26)) == pytest.approx(1)


def test_the_measure_is_antisymmetric_and_needs_aware_times() -> None:
    start, end = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 18, tzinfo=UTC)
    assert working_days_between("NL", end, start) == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="UTC offset"):
        working_days_between("NL", datetime(2026, 11, 16), end)
    with pytest.raises(ProfileNotFound):
        working_days_between("XX", start, end)


# The calendar over the suite's chosen dates (tests/clock.py): the countries that have the day off.
MEMBERS = ("AT", "BE", "DE", "NL", "INT")
ALL_OFF = frozenset(MEMBERS)
DAYS_OFF: dict[str, frozenset[str]] = {
    "monday": frozenset(),
    "wednesday": frozenset(),
    "friday": frozenset(),
    "christmas-eve": frozenset(),  # a working day in every member's public calendar
    "christmas": frozenset({"AT", "BE", "DE", "NL"}),  # the platform has no holidays
    "boxing-day": ALL_OFF,  # a Saturday
    "december-27": ALL_OFF,
    "at-national-day": frozenset({"AT"}),
    "be-national-day": frozenset({"BE"}),
    # Good Friday: a holiday in DE; python-holidays counts it in NL (Goede Vrijdag) too.
    "de-good-friday": frozenset({"DE", "NL"}),
    "nl-kings-day": frozenset({"NL"}),
    "end-of-summer-time": ALL_OFF,  # a Sunday
}
# Whether a packet received at local midnight of the date and still undelivered three calendar
# days later is late: more than two working days (Q5's threshold) lay in between.
LATE_AFTER_THREE_DAYS: dict[str, frozenset[str]] = {
    "monday": ALL_OFF,
    "wednesday": ALL_OFF,
    "friday": frozenset(),
    "christmas-eve": frozenset(),
    "christmas": frozenset(),
    "boxing-day": frozenset(),
    "december-27": frozenset(),  # Sunday, then two working days: exactly 2, not more
    "at-national-day": ALL_OFF - {"AT"},
    "be-national-day": ALL_OFF - {"BE"},
    "de-good-friday": frozenset(),
    "nl-kings-day": ALL_OFF - {"NL"},
    "end-of-summer-time": frozenset(),
}
ZONES = {"AT": VIENNA, "BE": BRUSSELS, "DE": BERLIN, "NL": AMSTERDAM, "INT": ZoneInfo("UTC")}


def test_the_tables_cover_every_date_the_suite_runs_on() -> None:
    assert set(DAYS_OFF) == set(SUITE_DATES) == set(LATE_AFTER_THREE_DAYS)
    quality = tomllib.loads(
        (ROOT / "hub" / "oversight" / "standards.toml").read_text(encoding="utf-8")
    )
    [s2] = [c for c in quality["criteria"] if c["id"] == "S2"]
    assert s2["settings"]["max_hours"] / 24 == LATE_THRESHOLD


@pytest.mark.parametrize("country", MEMBERS)
@pytest.mark.parametrize("name", sorted(SUITE_DATES))
def test_each_suite_date_is_a_working_day_or_not_as_the_calendar_says(
    name: str, country: str
) -> None:
    day = SUITE_DATES[name]
    assert is_working_day(country, day) is (country not in DAYS_OFF[name])
    midnight = datetime.combine(day, datetime.min.time(), ZONES[country])
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZONES[country])
    expected = 0.0 if country in DAYS_OFF[name] else 1.0
    assert working_days_between(country, midnight, next_midnight) == pytest.approx(expected)


@pytest.mark.parametrize("country", MEMBERS)
@pytest.mark.parametrize("name", sorted(SUITE_DATES))
def test_a_packet_left_three_days_from_each_suite_date_is_late_only_past_two_working_days(
    name: str, country: str
) -> None:
    day = SUITE_DATES[name]
    received = datetime.combine(day, datetime.min.time(), ZONES[country])
    checked = datetime.combine(day + timedelta(days=3), datetime.min.time(), ZONES[country])
    age = working_days_between(country, received, checked)
    assert (age > LATE_THRESHOLD) is (country in LATE_AFTER_THREE_DAYS[name]), age
