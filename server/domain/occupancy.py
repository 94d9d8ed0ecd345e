"""Live occupancy of a space, with the evidence behind it.

A space's count is the sum of its sensors' newest reports. If any sensor configured for the space is silent or
stale, the space is ``unknown``, never ``empty``: reporting a room free (or, later, releasing its booking) on the
strength of a sensor that stopped talking is what users of peer products complain about most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class OccupancyState(StrEnum):
    OCCUPIED = "occupied"
    EMPTY = "empty"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SensorReport:
    """A sensor's newest report: how many people it counted, and when."""

    people: int
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class LiveOccupancy:
    state: OccupancyState
    people: int | None  # the sum of the newest counts, even when stale (shown as "last known")
    observed_at: datetime | None  # the OLDEST of the sensors' newest reports: the evidence is this fresh
    age_s: float | None
    reason: str


def assess_live_occupancy(
    *, sensors: Sequence[str], reports: Mapping[str, SensorReport], now: datetime, stale_after: timedelta
) -> LiveOccupancy:
    """Fuse the newest reports of the space's configured ``sensors`` into one state, saying why."""
    if not sensors:
        return LiveOccupancy(OccupancyState.UNKNOWN, None, None, None, "no occupancy sensor in this space")
    silent = [device_id for device_id in sensors if device_id not in reports]
    if len(silent) == len(sensors):
        return LiveOccupancy(OccupancyState.UNKNOWN, None, None, None, f"no reading yet from {', '.join(silent)}")
    heard = {device_id: reports[device_id] for device_id in sensors if device_id in reports}
    people = sum(report.people for report in heard.values())
    oldest = min(report.observed_at for report in heard.values())
    age = now - oldest
    age_s = round(age.total_seconds(), 1)
    if silent:
        return LiveOccupancy(OccupancyState.UNKNOWN, people, oldest, age_s, f"no reading yet from {', '.join(silent)}")
    stale = sorted(device_id for device_id, report in heard.items() if now - report.observed_at > stale_after)
    if stale:
        ages = ", ".join(f"{device_id} {_duration(now - heard[device_id].observed_at)} ago" for device_id in stale)
        return LiveOccupancy(
            OccupancyState.UNKNOWN,
            people,
            oldest,
            age_s,
            f"stale sensor (last reading {ages}; stale after {_duration(stale_after)})",
        )
    state = OccupancyState.OCCUPIED if people > 0 else OccupancyState.EMPTY
    counted = f"{people} {'person' if people == 1 else 'people'} counted by {', '.join(heard)}"
    return LiveOccupancy(state, people, oldest, age_s, f"{counted}; evidence at most {age_s:g} s old")


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
