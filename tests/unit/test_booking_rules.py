"""The booking rules on an injected clock (server/domain/bookings.py): opening hours, the grid, capacity, length,
the past, the horizon, quotas and recurring series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.site import OpeningHours, Space, load_belt
from server.domain.accounts import Role
from server.domain.bookings import (
    MAX_OCCURRENCES,
    BookingLimits,
    BookingRuleError,
    Recurrence,
    RuleCode,
    check_check_in_window,
    check_quota,
    check_slot,
    check_undo_window,
    expand_recurrence,
    may_book_recurring,
    opening_intervals,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BELT = load_belt()
# Sharing Space: mon-fri 09:00-12:00, 13:00-21:00; sat-sun 09:00-17:00; 40 people.
SHARING = BELT.site("complex").space("sharing-space")
LIMITS = BookingLimits(
    grid=timedelta(minutes=15),
    max_length=timedelta(hours=8),
    horizon={Role.RESIDENT: timedelta(days=30), Role.ORGANISER: timedelta(days=120)},
    quota={Role.RESIDENT: 4, Role.ORGANISER: 60},
)
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=SHANGHAI)  # a Monday, before opening


def local(day: int, hour: int, minute: int = 0, *, month: int = 12, tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=tz)


def always_open(capacity: int = 20) -> Space:
    return SHARING.model_copy(
        update={
            "id": "open-room",
            "capacity": capacity,
            "hours": OpeningHours.from_notation({"mon-sun": "00:00-24:00"}),
        }
    )


def check(
    start: datetime,
    end: datetime,
    *,
    attendees: int = 10,
    space: Space = SHARING,
    role: Role = Role.RESIDENT,
    now: datetime = NOW,
    limits: BookingLimits = LIMITS,
    tz: ZoneInfo = SHANGHAI,
) -> None:
    check_slot(space=space, tz=tz, start=start, end=end, attendees=attendees, now=now, limits=limits, booker_role=role)


def refused(code: RuleCode, start: datetime, end: datetime, **kwargs: object) -> BookingRuleError:
    with pytest.raises(BookingRuleError) as caught:
        check(start, end, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code is code, caught.value.detail
    return caught.value


def test_a_booking_inside_one_opening_interval_is_accepted_up_to_its_edges() -> None:
    check(local(7, 9), local(7, 12))
    check(local(7, 13), local(7, 21))
    check(local(12, 9), local(12, 17))  # Saturday hours


def test_a_booking_across_the_lunch_closure_is_outside_hours_and_names_the_day() -> None:
    error = refused(RuleCode.OUTSIDE_HOURS, local(7, 11, 30), local(7, 13, 30))
    assert "Mon 09:00-12:00, 13:00-21:00" in error.detail


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (local(7, 8, 45), local(7, 9, 30)),  # before opening
        (local(7, 20, 30), local(7, 21, 15)),  # after closing
        (local(12, 16), local(12, 18)),  # Saturday closes at 17:00
        (local(7, 20), local(8, 2)),  # across midnight
    ],
    ids=["before-opening", "after-closing", "weekend-hours", "overnight"],
)
def test_a_booking_not_inside_one_opening_interval_is_outside_hours(start: datetime, end: datetime) -> None:
    refused(RuleCode.OUTSIDE_HOURS, start, end)


def test_a_closed_day_refuses_every_booking() -> None:
    council_hall = BELT.site("complex").space("council-hall")  # closed on Sundays
    error = refused(RuleCode.OUTSIDE_HOURS, local(13, 10), local(13, 11), space=council_hall)
    assert "Sun closed" in error.detail


def test_an_interval_ending_at_midnight_takes_a_booking_until_24_00() -> None:
    check(local(7, 23), local(8, 0), space=always_open())


@pytest.mark.parametrize(
    ("start", "end"),
    [(local(7, 9, 10), local(7, 10)), (local(7, 9), local(7, 10, 5)), (local(7, 9).replace(second=30), local(7, 10))],
    ids=["start", "end", "seconds"],
)
def test_times_off_the_booking_grid_are_refused(start: datetime, end: datetime) -> None:
    refused(RuleCode.OFF_GRID, start, end)


def test_the_grid_is_in_local_time_even_where_the_offset_is_not_whole_hours() -> None:
    kathmandu = ZoneInfo("Asia/Kathmandu")  # UTC+05:45: 10:00 local is 04:15 UTC
    hourly = BookingLimits(grid=timedelta(hours=1), max_length=timedelta(hours=8))
    start = local(7, 10, tz=kathmandu)
    now = start - timedelta(days=1)
    check(start, start + timedelta(hours=1), space=always_open(), tz=kathmandu, limits=hourly, now=now)
    utc_whole_hour = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    refused(
        RuleCode.OFF_GRID,
        utc_whole_hour,
        utc_whole_hour + timedelta(hours=1),
        space=always_open(),
        tz=kathmandu,
        limits=hourly,
        now=now,
    )


def test_capacity_counts_attendees_up_to_the_space_limit() -> None:
    check(local(7, 9), local(7, 10), attendees=40)
    error = refused(RuleCode.OVER_CAPACITY, local(7, 9), local(7, 10), attendees=41)
    assert "40" in error.detail


def test_a_space_that_is_not_bookable_refuses_bookings() -> None:
    lobby = BELT.site("complex").space("lobby")
    refused(RuleCode.NOT_BOOKABLE, local(7, 10), local(7, 11), space=lobby)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (local(7, 10), local(7, 10)),
        (local(7, 11), local(7, 10)),
        (datetime(2026, 12, 7, 10), datetime(2026, 12, 7, 11)),
    ],
    ids=["empty", "backwards", "naive"],
)
def test_a_range_must_run_forwards_and_name_its_zone(start: datetime, end: datetime) -> None:
    refused(RuleCode.BAD_RANGE, start, end)


def test_the_current_slot_can_be_booked_walk_up_but_an_earlier_one_cannot() -> None:
    now = local(7, 10, 7)
    check(local(7, 10), local(7, 11), now=now)  # started 7 minutes ago: still this grid slot
    refused(RuleCode.IN_PAST, local(7, 9, 45), local(7, 11), now=now)


def test_a_booking_longer_than_the_limit_is_refused() -> None:
    space = always_open()
    check(local(8, 8), local(8, 16), space=space)
    error = refused(RuleCode.TOO_LONG, local(8, 8), local(8, 16, 15), space=space)
    assert "8 h" in error.detail


def test_residents_book_within_their_horizon_and_staff_without_one() -> None:
    far = NOW + timedelta(days=31)
    start = far.replace(hour=10, minute=0)
    refused(RuleCode.TOO_FAR_AHEAD, start, start + timedelta(hours=1), role=Role.RESIDENT)
    check(start, start + timedelta(hours=1), role=Role.ORGANISER)
    check(start + timedelta(days=300), start + timedelta(days=300, hours=1), role=Role.STAFF)


def test_the_quota_counts_what_the_owner_holds_and_what_they_ask_for() -> None:
    check_quota(owner_role=Role.RESIDENT, held=3, adding=1, limits=LIMITS)
    with pytest.raises(BookingRuleError) as caught:
        check_quota(owner_role=Role.RESIDENT, held=4, adding=1, limits=LIMITS)
    assert caught.value.code is RuleCode.QUOTA_EXCEEDED
    with pytest.raises(BookingRuleError):
        check_quota(owner_role=Role.ORGANISER, held=58, adding=3, limits=LIMITS)
    check_quota(owner_role=Role.STAFF, held=500, adding=52, limits=LIMITS)  # staff have no quota


def test_recurring_series_are_for_organisers_and_staff() -> None:
    assert not may_book_recurring(Role.RESIDENT)
    assert may_book_recurring(Role.ORGANISER)
    assert may_book_recurring(Role.STAFF)
    assert not may_book_recurring(Role.SERVICE)


SERIES_START = local(7, 19)


def expand(
    recurrence: Recurrence,
    *,
    start: datetime = SERIES_START,
    hours: int = 2,
    tz: ZoneInfo = SHANGHAI,
    horizon: timedelta | None = None,
) -> list[tuple[datetime, datetime]]:
    return expand_recurrence(
        start=start, end=start + timedelta(hours=hours), recurrence=recurrence, tz=tz, now=NOW, horizon=horizon
    )


def test_a_weekly_series_repeats_at_the_same_local_time() -> None:
    occurrences = expand(Recurrence("weekly", count=4))
    assert [start for start, _ in occurrences] == [local(7 + 7 * i, 19) for i in range(4)]
    assert all(end - start == timedelta(hours=2) for start, end in occurrences)


def test_a_daily_series_with_an_interval_skips_days() -> None:
    occurrences = expand(Recurrence("daily", interval=2, count=3))
    assert [start.day for start, _ in occurrences] == [7, 9, 11]


def test_until_is_an_inclusive_local_date() -> None:
    occurrences = expand(Recurrence("weekly", until=date(2026, 12, 21)))
    assert [start.astimezone(SHANGHAI).date() for start, _ in occurrences] == [
        date(2026, 12, 7),
        date(2026, 12, 14),
        date(2026, 12, 21),
    ]


def test_a_series_keeps_its_wall_time_across_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # clocks go forward on 28 March 2027
    start = datetime(2027, 3, 22, 10, 0, tzinfo=berlin)
    first, second = expand(Recurrence("weekly", count=2), start=start, tz=berlin)
    assert first[0].astimezone(berlin).hour == second[0].astimezone(berlin).hour == 10
    assert second[0].astimezone(UTC) - first[0].astimezone(UTC) == timedelta(days=7, hours=-1)  # real time


@pytest.mark.parametrize(
    "recurrence",
    [
        Recurrence("weekly"),
        Recurrence("weekly", count=2, until=date(2026, 12, 21)),
        Recurrence("weekly", count=MAX_OCCURRENCES + 1),
        Recurrence("daily", until=date(2027, 3, 1)),  # 85 days
        Recurrence("weekly", until=date(2026, 12, 1)),  # before the first occurrence
        Recurrence("daily", interval=0, count=2),
    ],
    ids=["neither", "both", "too-many", "until-too-many", "until-before", "interval-0"],
)
def test_malformed_or_oversized_recurrences_are_refused(recurrence: Recurrence) -> None:
    with pytest.raises(BookingRuleError) as caught:
        expand(recurrence)
    assert caught.value.code is RuleCode.BAD_RECURRENCE


def test_until_beyond_the_horizon_is_too_far_ahead() -> None:
    with pytest.raises(BookingRuleError) as caught:
        expand(Recurrence("weekly", until=date(2027, 2, 1)), horizon=timedelta(days=30))
    assert caught.value.code is RuleCode.TOO_FAR_AHEAD


@given(
    freq=st.sampled_from(["daily", "weekly"]),
    interval=st.integers(min_value=1, max_value=4),
    count=st.integers(min_value=1, max_value=MAX_OCCURRENCES),
    hours=st.integers(min_value=1, max_value=8),
)
def test_a_series_yields_count_disjoint_occurrences_in_order(freq: str, interval: int, count: int, hours: int) -> None:
    occurrences = expand(Recurrence(freq, interval=interval, count=count), start=local(7, 9), hours=hours)  # type: ignore[arg-type]
    assert len(occurrences) == count
    assert all(end - start == timedelta(hours=hours) for start, end in occurrences)
    assert all(earlier[1] <= later[0] for earlier, later in pairwise(occurrences))


def test_check_in_opens_before_the_start_and_closes_at_the_end() -> None:
    start, end, opens_before = local(7, 10), local(7, 11), timedelta(minutes=15)
    check_check_in_window(start=start, end=end, now=local(7, 9, 45), opens_before=opens_before)
    check_check_in_window(start=start, end=end, now=local(7, 10, 59), opens_before=opens_before)
    for now in (local(7, 9, 44), local(7, 11)):
        with pytest.raises(BookingRuleError) as caught:
            check_check_in_window(start=start, end=end, now=now, opens_before=opens_before)
        assert caught.value.code is RuleCode.WRONG_STATUS


def test_a_release_can_be_undone_within_the_window_only() -> None:
    released = local(7, 10, 10)
    check_undo_window(released_at=released, now=released + timedelta(minutes=14), undo_window=timedelta(minutes=15))
    with pytest.raises(BookingRuleError):
        check_undo_window(released_at=released, now=released + timedelta(minutes=15), undo_window=timedelta(minutes=15))


def test_opening_intervals_are_clipped_to_the_range_asked_for() -> None:
    intervals = opening_intervals(SHARING, tz=SHANGHAI, start=local(7, 10), end=local(8, 10))
    assert intervals == [
        (local(7, 10).astimezone(UTC), local(7, 12).astimezone(UTC)),
        (local(7, 13).astimezone(UTC), local(7, 21).astimezone(UTC)),
        (local(8, 9).astimezone(UTC), local(8, 10).astimezone(UTC)),
    ]
