"""The rules a booking must follow (no I/O; ``now`` is passed in, on the server's clock).

A request for ``[start, end)`` of a space is refused with a :class:`BookingRuleError` naming the broken rule:

    bad_range       end not after start, or a time without its zone
    not_bookable    the space is not bookable
    in_past         starts before ``now - grid`` (so a walk-up booking of the current slot still works)
    off_grid        start or end not on the booking grid (local time: 15 minutes by default)
    too_long        longer than the longest booking
    outside_hours   not inside ONE opening interval of the space (local time)
    over_capacity   more attendees than the space holds
    too_far_ahead   further ahead than the booker's role may book (residents, organisers; staff: no limit)
    quota_exceeded  the owner would hold more future bookings at once than their role allows
    bad_recurrence  a recurrence rule that is malformed or yields too many occurrences
    wrong_status    the booking's status does not allow the action (or not at this time)

Local time is the belt's zone: a grid or an opening hour is a wall-clock time there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Literal

from devices.site import DAY_NAMES, Space
from server.domain.accounts import Role

MAX_OCCURRENCES = 52  # a weekly series for a year; longer ones are booked again
_MINUTE = timedelta(minutes=1)


class RuleCode(StrEnum):
    BAD_RANGE = "bad_range"
    NOT_BOOKABLE = "not_bookable"
    IN_PAST = "in_past"
    OFF_GRID = "off_grid"
    TOO_LONG = "too_long"
    OUTSIDE_HOURS = "outside_hours"
    OVER_CAPACITY = "over_capacity"
    TOO_FAR_AHEAD = "too_far_ahead"
    QUOTA_EXCEEDED = "quota_exceeded"
    BAD_RECURRENCE = "bad_recurrence"
    WRONG_STATUS = "wrong_status"


class BookingRuleError(Exception):
    """A booking rule refuses the request; ``code`` names the rule, ``detail`` says why in one sentence (HTTP 422)."""

    def __init__(self, code: RuleCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class NotFound(LookupError):
    """A site, space, account, booking or waitlist entry that does not exist, or that the caller may not see: its
    existence is not revealed (HTTP 404)."""


@dataclass(frozen=True, slots=True)
class BookingLimits:
    """Per-role limits; a role missing from ``horizon`` or ``quota`` has no such limit (staff, administrators)."""

    grid: timedelta = timedelta(minutes=15)
    max_length: timedelta = timedelta(hours=8)
    horizon: Mapping[Role, timedelta] = field(default_factory=dict)
    quota: Mapping[Role, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recurrence:
    """Repeat every ``interval`` days or weeks at the same local time, ``count`` times or until the local date
    ``until`` (inclusive); exactly one of the two."""

    freq: Literal["daily", "weekly"]
    interval: int = 1
    count: int | None = None
    until: date | None = None


def may_book_recurring(role: Role) -> bool:
    """Recurring series are for Party branch organisers, staff and administrators; residents book one at a time."""
    return role in (Role.ORGANISER, Role.STAFF, Role.ADMIN)


def check_range(start: datetime, end: datetime) -> None:
    if start.utcoffset() is None or end.utcoffset() is None:
        raise BookingRuleError(RuleCode.BAD_RANGE, "start and end need a time zone (RFC 3339, e.g. ...T09:00:00Z)")
    if end <= start:
        raise BookingRuleError(RuleCode.BAD_RANGE, f"end ({end.isoformat()}) must be after start ({start.isoformat()})")


def check_slot(
    *,
    space: Space,
    tz: tzinfo,
    start: datetime,
    end: datetime,
    attendees: int,
    now: datetime,
    limits: BookingLimits,
    booker_role: Role,
    check_past: bool = True,
) -> None:
    """Every rule but the quota, for one occurrence. ``check_past`` False: a change that keeps a start already
    passed (a booking under way may still get a new end or title)."""
    check_range(start, end)
    if not space.bookable:
        raise BookingRuleError(RuleCode.NOT_BOOKABLE, f"{space.name} ({space.id}) is not bookable")
    if check_past and start < now - limits.grid:
        raise BookingRuleError(RuleCode.IN_PAST, f"the booking would start at {_local(start, tz)}, in the past")
    check_grid(start, end, tz=tz, grid=limits.grid)
    if end - start > limits.max_length:
        raise BookingRuleError(
            RuleCode.TOO_LONG, f"a booking lasts at most {_duration(limits.max_length)}, not {_duration(end - start)}"
        )
    check_opening_hours(space, start, end, tz=tz)
    if attendees < 1:
        raise BookingRuleError(RuleCode.OVER_CAPACITY, "a booking is for at least one attendee")
    if attendees > space.capacity:
        raise BookingRuleError(RuleCode.OVER_CAPACITY, f"{space.name} holds {space.capacity} people, not {attendees}")
    horizon = limits.horizon.get(booker_role)
    if horizon is not None and start > now + horizon:
        raise BookingRuleError(RuleCode.TOO_FAR_AHEAD, f"a {booker_role.value} books at most {horizon.days} days ahead")


def check_grid(start: datetime, end: datetime, *, tz: tzinfo, grid: timedelta) -> None:
    step = round(grid.total_seconds())
    for name, instant in (("start", start), ("end", end)):
        local = instant.astimezone(tz)
        seconds = (local.hour * 60 + local.minute) * 60 + local.second
        if local.microsecond or seconds % step:
            raise BookingRuleError(
                RuleCode.OFF_GRID,
                f"{name} {local:%H:%M:%S} local time is not on the {_duration(grid)} booking grid",
            )


def check_opening_hours(space: Space, start: datetime, end: datetime, *, tz: tzinfo) -> None:
    """The booking lies in one opening interval of its start's local day (an interval may end at 24:00)."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    # Minutes after the start day's local midnight, on the wall clock (an interval may end at 24:00 = 1440).
    midnight = datetime.combine(local_start.date(), time())
    first = (local_start.replace(tzinfo=None) - midnight) / _MINUTE
    last = (local_end.replace(tzinfo=None) - midnight) / _MINUTE
    intervals = space.hours.intervals_on(local_start.weekday())
    if any(interval.start <= first and last <= interval.end for interval in intervals):
        return
    day = DAY_NAMES[local_start.weekday()].title()
    opening = ", ".join(str(i) for i in intervals) if intervals else "closed"
    raise BookingRuleError(
        RuleCode.OUTSIDE_HOURS,
        f"{space.name} is open {day} {opening}; {local_start:%H:%M}-{local_end:%H:%M} on {local_start:%Y-%m-%d}"
        " does not fit in one opening interval",
    )


def check_quota(*, owner_role: Role, held: int, adding: int, limits: BookingLimits) -> None:
    """``held``: the owner's future active bookings (held, confirmed, checked in and not yet over)."""
    quota = limits.quota.get(owner_role)
    if quota is not None and held + adding > quota:
        raise BookingRuleError(
            RuleCode.QUOTA_EXCEEDED,
            f"a {owner_role.value} holds at most {quota} future bookings at once; the owner holds {held}"
            + (f" and asks for {adding} more" if adding > 1 else ""),
        )


def expand_recurrence(
    *, start: datetime, end: datetime, recurrence: Recurrence, tz: tzinfo, now: datetime, horizon: timedelta | None
) -> list[tuple[datetime, datetime]]:
    """The occurrences of a series, the first one being ``[start, end)``; each at the same local wall time."""
    check_range(start, end)
    if recurrence.interval < 1:
        raise BookingRuleError(RuleCode.BAD_RECURRENCE, "interval must be at least 1")
    if (recurrence.count is None) == (recurrence.until is None):
        raise BookingRuleError(RuleCode.BAD_RECURRENCE, "give either count or until, not both or neither")
    step = timedelta(days=recurrence.interval * (7 if recurrence.freq == "weekly" else 1))
    local_start = start.astimezone(tz).replace(tzinfo=None)
    local_length = end.astimezone(tz).replace(tzinfo=None) - local_start
    if recurrence.count is not None:
        if not 1 <= recurrence.count <= MAX_OCCURRENCES:
            raise BookingRuleError(RuleCode.BAD_RECURRENCE, f"count must be 1 to {MAX_OCCURRENCES}")
        count = recurrence.count
    else:
        assert recurrence.until is not None
        if recurrence.until < local_start.date():
            raise BookingRuleError(RuleCode.BAD_RECURRENCE, f"until {recurrence.until} is before the first occurrence")
        if horizon is not None and recurrence.until > (now + horizon).astimezone(tz).date():
            raise BookingRuleError(
                RuleCode.TOO_FAR_AHEAD, f"until {recurrence.until} is further ahead than {horizon.days} days"
            )
        count = (recurrence.until - local_start.date()) // step + 1
        if count > MAX_OCCURRENCES:
            too_many = f"until {recurrence.until} gives {count} occurrences; at most {MAX_OCCURRENCES}"
            raise BookingRuleError(RuleCode.BAD_RECURRENCE, too_many)
    occurrences = []
    for index in range(count):
        wall = local_start + index * step
        occurrences.append((_aware(wall, tz), _aware(wall + local_length, tz)))
    return occurrences


def check_status(status: str, allowed: tuple[str, ...], action: str) -> None:
    if status not in allowed:
        raise BookingRuleError(RuleCode.WRONG_STATUS, f"a {status} booking cannot be {action}")


def check_check_in_window(*, start: datetime, end: datetime, now: datetime, opens_before: timedelta) -> None:
    """Check-in is open from ``opens_before`` the start until the end."""
    opens = start - opens_before
    if now < opens:
        raise BookingRuleError(RuleCode.WRONG_STATUS, f"check-in opens at {opens.isoformat()}")
    if now >= end:
        raise BookingRuleError(RuleCode.WRONG_STATUS, f"the booking ended at {end.isoformat()}")


def check_undo_window(*, released_at: datetime | None, now: datetime, undo_window: timedelta) -> None:
    if released_at is None or now >= released_at + undo_window:
        raise BookingRuleError(
            RuleCode.WRONG_STATUS, f"a release can be undone within {_duration(undo_window)} of it, no later"
        )


def opening_intervals(space: Space, *, tz: tzinfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The space's opening intervals overlapping [start, end), clipped to it, in order (UTC)."""
    intervals = []
    day = start.astimezone(tz).date()
    while day <= end.astimezone(tz).date():
        midnight = datetime.combine(day, time())
        for interval in space.hours.intervals_on(day.weekday()):
            opens = _aware(midnight + interval.start * _MINUTE, tz)
            closes = _aware(midnight + interval.end * _MINUTE, tz)
            if opens < end and closes > start:
                intervals.append((max(opens, start).astimezone(UTC), min(closes, end).astimezone(UTC)))
        day += timedelta(days=1)
    return intervals


def _aware(wall: datetime, tz: tzinfo) -> datetime:
    return wall.replace(tzinfo=tz)


def _local(instant: datetime, tz: tzinfo) -> str:
    return f"{instant.astimezone(tz):%Y-%m-%d %H:%M} local time"


def _duration(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" if not rest else f"{hours} h {rest} min"
