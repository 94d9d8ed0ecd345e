"""Which closing time a people counter's daily reset belongs to: the end of the day's last opening interval."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from devices.site import OpeningHours
from edge.counter_occupancy import latest_closing

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8 all year
WEEKDAYS_WITH_LUNCH = OpeningHours.from_notation({"mon-fri": "08:30-11:30, 13:00-17:00", "sat": "09:00-12:00"})


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)  # 2026-03-02 is a Monday


@pytest.mark.parametrize(
    ("at", "closing"),
    [
        (utc(2, 9, 0), utc(2, 9, 0)),  # Monday 17:00 local, exactly: closed from then on
        (utc(2, 8, 59), datetime(2026, 2, 28, 4, 0, tzinfo=UTC)),  # Saturday 12:00 local
        (utc(2, 4, 0), datetime(2026, 2, 28, 4, 0, tzinfo=UTC)),  # Monday 12:00 local: lunch is no closing
        (utc(3, 1, 0), utc(2, 9, 0)),  # Tuesday 09:00 local: Monday's closing
        (utc(8, 12, 0), datetime(2026, 3, 7, 4, 0, tzinfo=UTC)),  # Sunday evening: Saturday noon
    ],
    ids=["at-closing", "a-minute-before-closing", "over-lunch", "next-morning", "sunday"],
)
def test_the_latest_closing_is_the_end_of_the_last_interval_of_an_open_day(at: datetime, closing: datetime) -> None:
    assert latest_closing(WEEKDAYS_WITH_LUNCH, SHANGHAI, at) == closing


def test_a_place_open_around_the_clock_never_closes() -> None:
    always = OpeningHours.from_notation({"mon-sun": "00:00-24:00"})
    assert latest_closing(always, SHANGHAI, utc(4, 12)) is None


def test_midnight_is_a_closing_when_the_next_day_does_not_open_at_once() -> None:
    late = OpeningHours.from_notation({"fri": "18:00-24:00"})
    assert latest_closing(late, SHANGHAI, utc(7, 1)) == utc(6, 16)  # Saturday 00:00 local


def test_a_place_never_open_has_no_closing() -> None:
    never = OpeningHours.from_notation({"mon-sun": "closed"})
    assert latest_closing(never, SHANGHAI, utc(4, 12)) is None
