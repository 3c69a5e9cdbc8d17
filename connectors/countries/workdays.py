"""Working days of a member's calendar, for the quality criteria that count them (Q5).

`working_days_between(country, start, end)` measures how much working time lies between two
instants, in working days, in the calendar of the country's profile:

- A day is a *working day* when it is Monday to Friday and not a public holiday of the profile's
  `holidays` calendar (with its subdivision, where the profile names one). Days are the calendar
  days of the profile's time zone (Europe/Vienna for AT, ...).
- Each working day contributes the fraction of it that lies between `start` and `end`; weekends
  and holidays contribute nothing. A whole working day counts exactly 1, also on the days clocks
  change (the fraction is of that day's real length, 23 or 25 hours).
- So the result is a float: Friday 16:00 to Monday 10:00 is 8/24 + 10/24 = 0.75; over a national
  holiday on the Monday it is 8/24 + 10/24 again, counted up to Tuesday 10:00. Q5's threshold
  ("p95 at most 2 working days") compares directly with it.
- `end` before `start` gives the negative of the reverse interval. Both must carry a UTC offset.

The calendar of the international platform has no holidays: Monday to Friday in UTC.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from connectors.countries.profiles import CalendarSpec, Profiles, default_profiles

__all__ = ["is_working_day", "working_days_between"]

_SATURDAY = 5


@functools.cache
def _holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    # One calendar object per (country, subdivision): it fills in years as they are asked for.
    return holidays.country_holidays(country, subdiv=subdivision)


def _is_working(day: date, calendar: CalendarSpec) -> bool:
    if day.weekday() >= _SATURDAY:
        return False
    if calendar.holidays is None:
        return True
    return day not in _holidays(calendar.holidays, calendar.subdivision)


def is_working_day(country: str, day: date, *, profiles: Profiles | None = None) -> bool:
    """Whether `day` is a working day in the country's calendar. Raises ProfileNotFound."""
    profile = (profiles or default_profiles()).get(country)
    return _is_working(day, profile.calendar)


def working_days_between(
    country: str, start: datetime, end: datetime, *, profiles: Profiles | None = None
) -> float:
    """Working time between two instants, in working days of the country's calendar.

    `country` is a profile code ('AT', 'BE', 'DE', 'NL', 'INT', or one added as data).
    Raises ProfileNotFound for an unknown code, ValueError for a datetime without an offset.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end need a UTC offset")
    if end < start:
        return -working_days_between(country, end, start, profiles=profiles)
    profile = (profiles or default_profiles()).get(country)
    zone = ZoneInfo(profile.timezone)
    # Arithmetic in UTC: Python subtracts datetimes of one tzinfo by wall clock, ignoring DST.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    total = 0.0
    while day <= last:
        if _is_working(day, profile.calendar):
            day_start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
            day_end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
            overlap = min(end, day_end) - max(start, day_start)
            total += overlap / (day_end - day_start)
        day += timedelta(days=1)
    return total
