"""Live occupancy of a space, with the evidence behind it.

A stale or silent sensor makes a space ``unknown``, never ``empty``: releasing a room or reporting it free on the
strength of a sensor that stopped talking is the failure users of peer products complain about most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class OccupancyState(StrEnum):
    OCCUPIED = "occupied"
    EMPTY = "empty"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SensorEvidence:
    """What the space's sensors said last: the summed count, when the newest of them reported, and who."""

    people: int
    observed_at: datetime
    device_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LiveOccupancy:
    state: OccupancyState
    people: int | None
    observed_at: datetime | None
    age_s: float | None
    reason: str


def assess_live_occupancy(
    *, evidence: SensorEvidence | None, has_sensor: bool, now: datetime, stale_after: timedelta
) -> LiveOccupancy:
    if not has_sensor:
        return LiveOccupancy(OccupancyState.UNKNOWN, None, None, None, "no occupancy sensor in this space")
    if evidence is None:
        return LiveOccupancy(OccupancyState.UNKNOWN, None, None, None, "no reading received yet")
    age = now - evidence.observed_at
    age_s = round(age.total_seconds(), 1)
    sensors = ", ".join(evidence.device_ids)
    if age > stale_after:
        return LiveOccupancy(
            OccupancyState.UNKNOWN,
            evidence.people,
            evidence.observed_at,
            age_s,
            f"last reading from {sensors} is {_minutes(age)} old (stale after {_minutes(stale_after)})",
        )
    state = OccupancyState.OCCUPIED if evidence.people > 0 else OccupancyState.EMPTY
    return LiveOccupancy(
        state,
        evidence.people,
        evidence.observed_at,
        age_s,
        f"{evidence.people} {'person' if evidence.people == 1 else 'people'} counted by {sensors} {age_s:g} s ago",
    )


def _minutes(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
