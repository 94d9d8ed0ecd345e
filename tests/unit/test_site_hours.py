"""Opening hours: the notation, the readable form, and is_open at boundaries and across midnight UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.site import HoursNotationError, OpeningHours, TimeInterval

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = OpeningHours.from_notation({"mon-fri": "08:30-17:00", "sat": "09:00-12:00, 13:00-16:00"})


def utc_of_shanghai(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """The UTC instant of a Shanghai wall-clock time (UTC+8 all year)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def test_notation_gives_intervals_per_weekday() -> None:
    assert OFFICE.intervals_on(0) == (TimeInterval(8 * 60 + 30, 17 * 60),)
    assert OFFICE.intervals_on(5) == (TimeInterval(9 * 60, 12 * 60), TimeInterval(13 * 60, 16 * 60))
    assert OFFICE.intervals_on(6) == ()


def test_readable_form_joins_runs_of_equal_days() -> None:
    assert str(OFFICE) == "Mon-Fri 08:30-17:00; Sat 09:00-12:00, 13:00-16:00"


def test_readable_form_keeps_separate_days_apart() -> None:
    hours = OpeningHours.from_notation({"mon,wed": "9:00-10:00", "sun": "closed"})
    assert str(hours) == "Mon 09:00-10:00; Wed 09:00-10:00"
    assert hours.notation() == {"mon": "09:00-10:00", "wed": "09:00-10:00"}


def test_hours_closed_every_day_read_as_closed() -> None:
    assert str(OpeningHours.from_notation({"mon-sun": "closed"})) == "closed"


def test_intervals_may_be_listed_in_any_order_and_day_names_in_any_case() -> None:
    hours = OpeningHours.from_notation({"SAT": "13:00-16:00, 09:00-12:00"})
    assert str(hours) == "Sat 09:00-12:00, 13:00-16:00"


@pytest.mark.parametrize(
    ("notation", "problem"),
    [
        pytest.param({}, "no days given; name at least one day, e.g. mon-fri: 09:00-17:00", id="no-days"),
        pytest.param({"fri-mon": "09:00-17:00"}, "day range 'fri-mon' runs backwards; write e.g. 'mon-fri'", id="bwd"),
        pytest.param(
            {"mon": "17:00-09:00"},
            "'17:00-09:00' ends before it starts; intervals may not cross midnight",
            id="crosses-midnight",
        ),
        pytest.param(
            {"mon": "09:00-09:00"},
            "'09:00-09:00' ends before it starts; intervals may not cross midnight",
            id="empty-interval",
        ),
        pytest.param({"mon": "24:00-24:00"}, "'24:00-24:00' is not a time of day (00:00 to 24:00)", id="starts-24"),
        pytest.param({"mon": "09:60-10:00"}, "'09:60-10:00' is not a time of day (00:00 to 24:00)", id="minute-60"),
        pytest.param({"mon": "9-17"}, "'9-17' is not an interval like '08:30-17:00'", id="no-minutes"),
        pytest.param(
            {"mon": "09:00-12:00, 12:00-17:00"},
            "intervals 09:00-12:00 and 12:00-17:00 overlap or touch; join them into one",
            id="touching",
        ),
        pytest.param(
            {"mon-wed": "09:00-12:00", "tue": "13:00-14:00"},
            "tue is already given by 'mon-wed'; name each day once",
            id="day-twice",
        ),
    ],
)
def test_bad_notation_is_refused(notation: dict[str, str], problem: str) -> None:
    with pytest.raises(HoursNotationError) as caught:
        OpeningHours.from_notation(notation)
    assert str(caught.value) == problem


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        pytest.param((8, 29, 59), False, id="a-second-before-opening"),
        pytest.param((8, 30, 0), True, id="at-opening"),
        pytest.param((16, 59, 59), True, id="a-second-before-closing"),
        pytest.param((17, 0, 0), False, id="at-closing"),
    ],
)
def test_is_open_from_opening_up_to_but_not_including_closing(local_time: tuple[int, int, int], expected: bool) -> None:
    at = utc_of_shanghai(2024, 3, 6, *local_time)  # a Wednesday
    assert OFFICE.is_open(at, SHANGHAI) is expected


def test_is_open_between_two_intervals_of_a_day_is_false() -> None:
    saturday_lunch = utc_of_shanghai(2024, 3, 9, 12, 30)
    assert not OFFICE.is_open(saturday_lunch, SHANGHAI)
    assert OFFICE.is_open(saturday_lunch + timedelta(minutes=30), SHANGHAI)


def test_is_open_uses_the_local_weekday_when_utc_is_still_the_day_before() -> None:
    # Saturday 01:00 in Shanghai is Friday 17:00 UTC.
    at = datetime(2024, 3, 8, 17, 0, tzinfo=UTC)
    early_saturday = OpeningHours.from_notation({"sat": "00:30-02:00"})
    friday_evening = OpeningHours.from_notation({"fri": "17:00-18:00"})
    assert early_saturday.is_open(at, SHANGHAI)
    assert not friday_evening.is_open(at, SHANGHAI)


def test_an_interval_ending_at_24_00_closes_at_local_midnight() -> None:
    late_sunday = OpeningHours.from_notation({"sun": "20:00-24:00"})
    assert late_sunday.is_open(utc_of_shanghai(2024, 3, 10, 23, 59, 59), SHANGHAI)
    assert not late_sunday.is_open(utc_of_shanghai(2024, 3, 11, 0, 0), SHANGHAI)


def test_shanghai_keeps_utc_plus_8_all_year_so_hours_open_at_the_same_utc_time() -> None:
    for month in (1, 4, 7, 10):
        opening_utc = datetime(2024, month, 3, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
        assert opening_utc.astimezone(SHANGHAI).utcoffset() == timedelta(hours=8)
        weekday_hours = OpeningHours.from_notation({"mon-sun": "08:30-17:00"})
        assert weekday_hours.is_open(opening_utc, SHANGHAI)
        assert not weekday_hours.is_open(opening_utc - timedelta(seconds=1), SHANGHAI)


def test_is_open_accepts_any_aware_instant() -> None:
    new_york_evening = datetime(2024, 3, 5, 20, 0, tzinfo=timezone(timedelta(hours=-5)))  # Wed 09:00 Shanghai
    assert OFFICE.is_open(new_york_evening, SHANGHAI)


def test_is_open_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        OFFICE.is_open(datetime(2024, 3, 6, 9, 0), SHANGHAI)


def test_covers_is_true_only_for_hours_within_every_interval() -> None:
    assert OFFICE.covers(OpeningHours.from_notation({"fri": "13:00-17:00", "sat": "13:00-14:00"}))
    assert not OFFICE.covers(OpeningHours.from_notation({"fri": "13:00-17:30"}))
    assert not OFFICE.covers(OpeningHours.from_notation({"sat": "11:00-14:00"}))  # spans the lunch break


@st.composite
def weekly_hours(draw: st.DrawFn) -> OpeningHours:
    week = []
    for _ in range(7):
        # Distinct sorted minute marks taken pairwise give intervals that neither overlap nor touch.
        marks = sorted(draw(st.sets(st.integers(0, 24 * 60), max_size=6)))
        week.append(tuple(TimeInterval(marks[i], marks[i + 1]) for i in range(0, len(marks) - 1, 2)))
    return OpeningHours(tuple(week))


@given(weekly_hours())
def test_notation_round_trips(hours: OpeningHours) -> None:
    assert OpeningHours.from_notation(hours.notation()) == hours


@given(weekly_hours())
def test_each_interval_is_open_at_its_start_and_closed_at_its_end(hours: OpeningHours) -> None:
    monday = datetime(2024, 3, 4, tzinfo=SHANGHAI)
    for weekday in range(7):
        for interval in hours.intervals_on(weekday):
            start = monday + timedelta(days=weekday, minutes=interval.start)
            end = monday + timedelta(days=weekday, minutes=interval.end)
            assert hours.is_open(start.astimezone(UTC), SHANGHAI)
            assert not hours.is_open(end.astimezone(UTC), SHANGHAI) or _reopens_at(hours, end)


def _reopens_at(hours: OpeningHours, local: datetime) -> bool:
    minute = local.hour * 60 + local.minute
    return any(i.start == minute for i in hours.intervals_on(local.weekday()))
