"""The server's clock: the wall clock in production, a scenario's simulated clock in a demo.

Booking times, grace periods, holds and the release scheduler's deadlines all run on this clock, and every time the
server writes for them (created_at, released_at, due_at) is on it. Device readings keep the devices' wall times;
``from_wall`` brings them onto this clock before the domain compares them with ``now()``.

A :class:`SimulatedClock` follows the anchor a scenario writes (devices/clock_anchor.py). Until the scenario has
written it, the clock is not ``ready``: time-dependent requests answer 503 and the scheduler waits, rather than
judging a simulated day by the wall clock.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from devices.clock_anchor import ClockAnchor, read_clock_anchor
from devices.timestamps import utc_now


class ClockNotReady(RuntimeError):
    """The simulated clock's anchor has not been written yet."""


class Clock(Protocol):
    @property
    def ready(self) -> bool: ...

    def now(self) -> datetime: ...

    def from_wall(self, wall: datetime) -> datetime: ...

    def to_wall(self, at: datetime) -> datetime: ...

    def wall_seconds(self, span: timedelta) -> float:
        """How long ``span`` of this clock lasts on the wall clock."""
        ...


class WallClock:
    ready = True

    def now(self) -> datetime:
        return utc_now()

    def from_wall(self, wall: datetime) -> datetime:
        return wall

    def to_wall(self, at: datetime) -> datetime:
        return at

    def wall_seconds(self, span: timedelta) -> float:
        return span.total_seconds()


class SimulatedClock:
    """Reads the anchor file when it changes (by modification time), so a scenario that starts again is followed."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._anchor: ClockAnchor | None = None
        self._mtime_ns: int | None = None

    def _current(self) -> ClockAnchor | None:
        with self._lock:
            try:
                mtime_ns = self._path.stat().st_mtime_ns
            except FileNotFoundError:
                return self._anchor
            if mtime_ns != self._mtime_ns:
                anchor = read_clock_anchor(self._path)
                self._anchor, self._mtime_ns = anchor, mtime_ns
            return self._anchor

    def _anchor_or_raise(self) -> ClockAnchor:
        anchor = self._current()
        if anchor is None:
            raise ClockNotReady(f"the simulated clock has not started (no anchor in {self._path} yet)")
        return anchor

    @property
    def ready(self) -> bool:
        return self._current() is not None

    def now(self) -> datetime:
        return self._anchor_or_raise().simulated(utc_now())

    def from_wall(self, wall: datetime) -> datetime:
        return self._anchor_or_raise().simulated(wall)

    def to_wall(self, at: datetime) -> datetime:
        return self._anchor_or_raise().wall(at)

    def wall_seconds(self, span: timedelta) -> float:
        return self._anchor_or_raise().wall_seconds(span)


def clock_for(simulated_clock_file: Path | None) -> Clock:
    return WallClock() if simulated_clock_file is None else SimulatedClock(simulated_clock_file)
