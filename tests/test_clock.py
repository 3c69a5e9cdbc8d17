"""The suite runs on a fixed date (tests/clock.py), and so do the processes it starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from tests.clock import DATE_VARIABLE, SUITE_DATES, real_now, suite_date
from tests.conftest import ROOT


def test_the_process_clock_is_on_the_suite_date(pytestconfig: pytest.Config) -> None:
    expected = suite_date(pytestconfig.getoption("suite_date"))
    assert datetime.now(UTC).date() == expected
    assert datetime.now(UTC).date() != real_now().date() or expected == real_now().date()


def test_a_process_the_suite_starts_runs_on_the_same_clock() -> None:
    program = (
        "from tests.clock import follow_parent_clock; follow_parent_clock(); "
        "import datetime; print(datetime.datetime.now(datetime.UTC).isoformat())"
    )
    answer = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, check=True
    )
    theirs = datetime.fromisoformat(answer.stdout.strip())
    assert abs((theirs - datetime.now(UTC)).total_seconds()) < 30


def test_the_named_dates_are_the_weekdays_their_names_say() -> None:
    weekdays = {"monday": 0, "wednesday": 2, "friday": 4, "boxing-day": 5, "december-27": 6}
    for name, weekday in weekdays.items():
        assert SUITE_DATES[name].weekday() == weekday, name
    assert SUITE_DATES["end-of-summer-time"].weekday() == 6  # the last Sunday of October
    assert SUITE_DATES["end-of-summer-time"].month == 10
    assert SUITE_DATES["end-of-summer-time"].day + 7 > 31


def test_make_test_dates_runs_every_named_date() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    block = re.search(r"^SUITE_DATES := ((?:.*\\\n)*.*)$", makefile, re.M)
    assert block is not None
    assert block[1].replace("\\", " ").split() == list(SUITE_DATES)


def test_an_unknown_suite_date_is_refused_with_the_names_it_knows() -> None:
    with pytest.raises(ValueError, match="christmas"):
        suite_date("someday")
    assert DATE_VARIABLE in os.environ or suite_date(None) == SUITE_DATES["wednesday"]
