"""The suite's clock: every run of the suite happens on a fixed date, never on the real today.

`make test` moves the process clock (time-machine: `datetime.now`, `date.today`, `time.time`) to
10:00 UTC on the suite's date and lets it tick from there, so a test that still reads the real
clock cannot pass by luck on one weekday and fail on another. The date is `HUB_TEST_DATE`
(`2026-12-24`, or a name from `SUITE_DATES` such as `friday`), or pytest's `--suite-date`; without
either it is `DEFAULT`. `make test-dates` runs the suite once per date below.

Processes the tests start (the hub, a push receiver) run on the same moved clock: they are started
as `python -m tests.clocked MODULE ...`, which reads the shift from `SHIFT_VARIABLE`.

`SUITE_DATES` are the dates the calendar rules are tested over, as table tests
(tests/connectors/countries/test_workdays.py and the tests that import `SUITE_DATES`): working
days, the lateness of a delivery, periods, the expiry of declarations.
"""

from __future__ import annotations

import os
import time as clock_time
from datetime import UTC, date, datetime, time

import time_machine

SHIFT_VARIABLE = "HUB_TEST_CLOCK_SHIFT"
DATE_VARIABLE = "HUB_TEST_DATE"

SUITE_DATES: dict[str, date] = {
    "monday": date(2026, 11, 30),
    "wednesday": date(2026, 12, 2),
    "friday": date(2026, 12, 4),  # before a weekend
    "christmas-eve": date(2026, 12, 24),
    "christmas": date(2026, 12, 25),
    "boxing-day": date(2026, 12, 26),  # a Saturday, St Stephen's Day in AT and DE
    "december-27": date(2026, 12, 27),  # a Sunday after three days of holidays
    # The holidays are those of 2027: the shipped sample forms are dated November 2026, and a
    # suite clock before them would see reports from its future.
    "at-national-day": date(2027, 10, 26),  # Nationalfeiertag, a Tuesday
    "be-national-day": date(2027, 7, 21),  # a Wednesday
    "de-good-friday": date(2027, 3, 26),  # Karfreitag: a holiday in DE, not in AT or BE
    "nl-kings-day": date(2027, 4, 27),  # Koningsdag, a Tuesday
    "end-of-summer-time": date(2027, 10, 31),  # clocks go back at 01:00 UTC in the EU
}
DEFAULT = "wednesday"
HOUR = time(10, 0, tzinfo=UTC)


def suite_date(chosen: str | None) -> date:
    """The date named by `chosen` (a key of SUITE_DATES or an ISO date), else DEFAULT.

    Raises ValueError for a name that is neither."""
    name = chosen or DEFAULT
    if name in SUITE_DATES:
        return SUITE_DATES[name]
    try:
        return date.fromisoformat(name)
    except ValueError:
        known = ", ".join(SUITE_DATES)
        raise ValueError(f"suite date {name!r}: give an ISO date or one of {known}") from None


def move_clock(to: datetime) -> time_machine.travel:
    """Start the process clock at `to`, ticking; the shift is left for child processes."""
    traveller = time_machine.travel(to, tick=True)
    real = _real_time()
    traveller.start()
    _start_ticking()
    os.environ[SHIFT_VARIABLE] = repr(to.timestamp() - real)
    return traveller


def follow_parent_clock() -> time_machine.travel | None:
    """In a child process: move its clock by the shift its parent's suite clock has, if any."""
    shift = os.environ.get(SHIFT_VARIABLE)
    if shift is None:
        return None
    now = _real_time() + float(shift)
    traveller = time_machine.travel(now, tick=True)
    traveller.start()
    _start_ticking()
    return traveller


def _start_ticking() -> None:
    # time-machine starts a ticking clock at its first reading, not at travel: read it now, or
    # a child process would lag its parent by the seconds its imports take.
    clock_time.time()


def real_now() -> datetime:
    """The real time, for what a clock outside Python checks (OpenSSL's certificate dates)."""
    return datetime.fromtimestamp(_real_time(), UTC)


def _real_time() -> float:
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.time.time()
    return clock_time.time()
