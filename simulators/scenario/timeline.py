"""Local days and presences: who is in a space from when to when, and the headcount they add up to.

Opening hours are local wall-clock minutes (devices.site_hours); everything here turns them into aware UTC instants
once, so the rest of the scenario works in UTC. A :class:`Presence` is people in one space over ``[enter, leave)``;
a space's true headcount is the sum of its presences, as a change list ``[(at, people), ...]``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from devices.site import OpeningHours

MINUTES_PER_DAY = 24 * 60
ONE_MINUTE = timedelta(minutes=1)

# (at, people): from ``at`` on, until the next change, the space holds ``people``.
HeadcountChange = tuple[datetime, int]


def local_instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of ``minute`` minutes after local midnight of ``day`` (1440 is the next midnight)."""
    extra_days, minute_of_day = divmod(minute, MINUTES_PER_DAY)
    local = datetime.combine(day + timedelta(days=extra_days), time(minute_of_day // 60, minute_of_day % 60), tz)
    return local.astimezone(UTC)


def next_local_hour(at: datetime, tz: ZoneInfo) -> datetime:
    """The next full local hour after ``at`` (aware), in UTC: where an hourly arrival rate changes."""
    local = at.astimezone(tz)
    return (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).astimezone(UTC)


@dataclass(frozen=True, slots=True, order=True)
class OpenInterval:
    """One stretch of opening hours on the planned day, ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def open_intervals(hours: OpeningHours, day: date, tz: ZoneInfo, *, begin: datetime) -> tuple[OpenInterval, ...]:
    """The day's opening intervals, cut to start no earlier than ``begin`` (nothing happens before a run begins)."""
    intervals = []
    for interval in hours.intervals_on(day.weekday()):
        start = max(local_instant(day, interval.start, tz), begin)
        end = local_instant(day, interval.end, tz)
        if start < end:
            intervals.append(OpenInterval(start, end))
    return tuple(intervals)


def interval_at(intervals: Sequence[OpenInterval], at: datetime) -> OpenInterval | None:
    return next((interval for interval in intervals if interval.contains(at)), None)


@dataclass(frozen=True, slots=True, order=True)
class Presence:
    """``people`` in ``space`` of ``site`` over ``[enter, leave)``; ``cause`` says why, ``ref`` names the booking
    or ticket behind it. Causes: ``drop-in``, ``booking``, ``ticket``, ``surge``."""

    enter: datetime
    leave: datetime
    site: str
    space: str
    people: int
    cause: str
    ref: str | None = None

    def __post_init__(self) -> None:
        if self.leave <= self.enter or self.people < 1:
            raise ValueError(f"empty presence {self}")


def headcount_changes(presences: Iterable[Presence]) -> tuple[HeadcountChange, ...]:
    """The change list of the people present: one entry per instant the count changes, never negative."""
    deltas: dict[datetime, int] = defaultdict(int)
    for presence in presences:
        deltas[presence.enter] += presence.people
        deltas[presence.leave] -= presence.people
    changes: list[HeadcountChange] = []
    people = 0
    for at in sorted(deltas):
        if deltas[at]:
            people += deltas[at]
            changes.append((at, people))
    return tuple(changes)


def people_at(changes: Sequence[HeadcountChange], at: datetime) -> int:
    """The headcount at ``at``: the last change at or before it, 0 before the first."""
    index = bisect.bisect_right(changes, at, key=lambda change: change[0])
    return changes[index - 1][1] if index else 0


class CapacityLedger:
    """Minute-by-minute load of one space, to admit a visit only if the space never exceeds ``capacity``.

    A presence loads every minute it touches (rounded outwards), so the check errs on the safe side.
    """

    def __init__(self, capacity: int, day_start: datetime) -> None:
        self.capacity = capacity
        self._origin = day_start
        self._load = [0] * (MINUTES_PER_DAY + 2)

    def fits(self, enter: datetime, leave: datetime, people: int) -> bool:
        first, last = self._span(enter, leave)
        return max(self._load[first:last]) + people <= self.capacity

    def add(self, enter: datetime, leave: datetime, people: int) -> None:
        first, last = self._span(enter, leave)
        for minute in range(first, last):
            self._load[minute] += people

    def _span(self, enter: datetime, leave: datetime) -> tuple[int, int]:
        first = int((enter - self._origin) // ONE_MINUTE)
        last = -int(-(leave - self._origin) // ONE_MINUTE)  # ceiling
        return max(0, first), min(len(self._load), max(last, first + 1))
