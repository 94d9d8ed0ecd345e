"""Space occupancy from a people counter's free-running in/out counters; pure, the time is passed in.

A counter module (devices.catalogue.people_counter_map) reports totals since power-up, not occupancy. The
occupancy of a space is the sum, over every channel, of the crossings in minus the crossings out since the
space was last known empty (closing time). Counters are cumulative, so crossings made while a poll failed are
still counted by the next good reading: an outage only makes the occupancy stale for a while, never wrong.

What goes wrong in the field, and what this module does about it:

- Counter wrap at 2**bits: :func:`devices.counters.counter_delta` is wrap-aware.
- Device reset (power cycle, operator clears the counters): looks like a wrap that counted nearly 2**32 people.
  Any delta above ``max_crossings_per_reading`` (default 1000 in one poll, far above what one door passes in a
  few seconds) starts a new baseline and is reported instead of added.
- Missed "in" crossings (two people side by side): occupancy would go below zero. It is clamped at zero and the
  clamped amount is counted as drift.
- Missed "out" crossings: people seem to stay after closing. :meth:`CounterOccupancy.reset` at closing time sets
  the occupancy to zero and reports what was left as drift.
- Stale, unreachable or faulty device: the occupancy becomes ``None`` (unknown), never a number pretending
  to be fresh.

:func:`latest_closing` finds the closing time the reset belongs to: the end of a day's last opening interval, in
the belt's time zone. A lunch break is not a closing (people wait through it), and neither is a ``24:00`` end
followed by a ``00:00`` opening.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from devices.counters import counter_delta
from devices.site_hours import OpeningHours

# More crossings than this between two readings of one counter means the device was reset, not that people came.
DEFAULT_MAX_CROSSINGS_PER_READING = 1000


@dataclass(frozen=True, slots=True)
class CounterChannel:
    """The names of one channel's "in" and "out" counter points in the device's values."""

    in_point: str
    out_point: str


PEOPLE_COUNTER_CHANNELS: tuple[CounterChannel, ...] = (
    CounterChannel("channel_1_in", "channel_1_out"),
    CounterChannel("channel_2_in", "channel_2_out"),
)


class CounterSnapshot(Protocol):
    """What :meth:`CounterOccupancy.feed` needs from a poll (edge.modbus_poller.PointSnapshot has it)."""

    @property
    def taken_at(self) -> datetime: ...

    @property
    def values(self) -> Mapping[str, bool | int | float | str]: ...

    @property
    def quality(self) -> str: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True, slots=True)
class OccupancyUpdate:
    """The occupancy after one reading, with the evidence.

    ``occupancy`` is None when unknown (stale input, or no baseline yet after a stale close). ``entered`` and
    ``left`` are the crossings counted by this reading; ``clamped`` how many people this reading would have
    taken below zero (drift); ``baseline_reset`` is True when the reading started a new baseline (first
    reading, device reset) instead of being counted; ``detail`` says why in words.
    """

    at: datetime
    occupancy: int | None
    entered: int = 0
    left: int = 0
    clamped: int = 0
    baseline_reset: bool = False
    detail: str = ""

    @property
    def stale(self) -> bool:
        return self.occupancy is None


@dataclass(frozen=True, slots=True)
class ClosingReport:
    """What :meth:`CounterOccupancy.reset` found at closing time.

    ``left_over`` is the occupancy that remained (people still counted inside: missed "out" crossings), None if
    it was unknown; ``clamped_since_last_close`` the drift clamped at zero since the previous reset (missed
    "in" crossings).
    """

    at: datetime
    left_over: int | None
    clamped_since_last_close: int


def _counter_reading(values: Mapping[str, bool | int | float | str], name: str, bits: int) -> int:
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ValueError(f"counter {name!r} reads {value!r}, not a {bits}-bit unsigned count")
    return value


class CounterOccupancy:
    """The occupancy of one space fed by the counters of one or more channels of one device."""

    def __init__(
        self,
        channels: Sequence[CounterChannel] = PEOPLE_COUNTER_CHANNELS,
        *,
        bits: int = 32,
        max_crossings_per_reading: int = DEFAULT_MAX_CROSSINGS_PER_READING,
    ) -> None:
        if not channels:
            raise ValueError("a space needs at least one counter channel")
        if max_crossings_per_reading < 1:
            raise ValueError(f"max_crossings_per_reading {max_crossings_per_reading} must be at least 1")
        self._channels = tuple(channels)
        self._bits = bits
        self._max_crossings = max_crossings_per_reading
        self._baseline: dict[str, int] | None = None
        self._occupancy = 0
        self._stale = False
        self._clamped_since_close = 0

    @property
    def occupancy(self) -> int | None:
        """People inside now; None while the input is stale or before the first reading."""
        return None if self._stale or self._baseline is None else self._occupancy

    def observe(self, counters: Mapping[str, bool | int | float | str], at: datetime) -> OccupancyUpdate:
        """Count a good reading of the counters taken at ``at``; extra values in ``counters`` are ignored."""
        names = [name for channel in self._channels for name in (channel.in_point, channel.out_point)]
        try:
            readings = {name: _counter_reading(counters, name, self._bits) for name in names}
        except ValueError as exc:
            return self.mark_stale(at, str(exc))
        self._stale = False
        previous, self._baseline = self._baseline, readings
        if previous is None:
            return OccupancyUpdate(at, self._occupancy, baseline_reset=True, detail="first reading sets the baseline")
        deltas = {name: counter_delta(previous[name], readings[name], self._bits) for name in names}
        implausible = sorted(name for name, delta in deltas.items() if delta > self._max_crossings)
        if implausible:
            detail = (
                f"counters {', '.join(implausible)} jumped by more than {self._max_crossings} crossings "
                "(device reset?): new baseline, nothing counted"
            )
            return OccupancyUpdate(at, self._occupancy, baseline_reset=True, detail=detail)
        entered = sum(deltas[channel.in_point] for channel in self._channels)
        left = sum(deltas[channel.out_point] for channel in self._channels)
        unclamped = self._occupancy + entered - left
        clamped = max(0, -unclamped)
        self._occupancy = max(0, unclamped)
        self._clamped_since_close += clamped
        detail = f"{clamped} more out than in: clamped at 0 (drift)" if clamped else ""
        return OccupancyUpdate(at, self._occupancy, entered=entered, left=left, clamped=clamped, detail=detail)

    def mark_stale(self, at: datetime, reason: str) -> OccupancyUpdate:
        """The device could not be read (or was frozen): the occupancy is unknown until the next good reading.

        The baseline is kept, so the next good reading counts every crossing made during the outage.
        """
        self._stale = True
        return OccupancyUpdate(at, None, detail=reason or "stale input")

    def feed(self, snapshot: CounterSnapshot) -> OccupancyUpdate:
        """:meth:`observe` a good poll, :meth:`mark_stale` any other."""
        if snapshot.quality != "good":
            return self.mark_stale(snapshot.taken_at, f"{snapshot.quality}: {snapshot.detail}".rstrip(": "))
        return self.observe(snapshot.values, snapshot.taken_at)

    def reset(self, at: datetime) -> ClosingReport:
        """Closing time: the space is empty. Report what was left over and the drift clamped since last close.

        If the occupancy was unknown (stale) the baseline is dropped too, because the crossings between the last
        good reading and closing time cannot be told apart from those after it; the next reading starts anew.
        """
        report = ClosingReport(at, self.occupancy, self._clamped_since_close)
        if self._stale:
            self._baseline = None
            self._stale = False
        self._occupancy = 0
        self._clamped_since_close = 0
        return report


def latest_closing(hours: OpeningHours, tz: tzinfo, at: datetime) -> datetime | None:
    """The latest closing time at or before ``at`` (aware UTC), looking back a week; None if the place never
    closed in that week (always open, or never open)."""
    local_day = at.astimezone(tz).date()
    for days_back in range(8):
        day = local_day - timedelta(days=days_back)
        intervals = hours.intervals_on(day.weekday())
        if not intervals:
            continue
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        # Wall-clock arithmetic on the local midnight; 24:00 is the next day's 00:00.
        closing = (midnight + timedelta(minutes=intervals[-1].end)).astimezone(UTC)
        if closing <= at and not hours.is_open(closing, tz):
            return closing
    return None
