"""The server's clock: the wall clock in production, a scenario's simulated clock in a demo.

Booking times, grace periods, holds and the release scheduler's deadlines all run on this clock, and every time the
server writes for them (created_at, released_at, due_at) is on it. Device readings keep the devices' wall times;
``from_wall`` brings them onto this clock before the domain compares them with ``now()``.

A :class:`SimulatedClock` follows the anchor a scenario writes (devices/clock_anchor.py). Until the scenario has
written it, the clock is not ``ready``: time-dependent requests answer 503 and the scheduler waits, rather than
judging a simulated day by the wall clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from devices.clock_anchor import ClockNotReady, SimulatedClock
from devices.timestamps import utc_now

__all__ = ["Clock", "ClockNotReady", "SimulatedClock", "WallClock", "clock_for"]


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


def clock_for(simulated_clock_file: Path | None) -> Clock:
    return WallClock() if simulated_clock_file is None else SimulatedClock(simulated_clock_file)
