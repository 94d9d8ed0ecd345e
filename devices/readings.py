"""The normalised occupancy reading every occupancy sensor is turned into, and its ``occupancy.v1`` envelope body.

    "data": {"people": 3, "occupied": true, "trigger": "interval",
             "regions": [{"name": "Region1", "count": 2, "occupied": true}, ...]}

- ``people``: people counted in the sensor's whole field of view (a VS121's ``current_total``).
- ``occupied``: the sensor's own verdict; a sensor may say occupied with a count of 0 (someone seated and still).
- ``regions``: per named region (desks, zones) of the field of view, names unique per reading; may be empty.
- ``trigger``: ``interval`` for a periodic report, ``change`` for one sent because something changed.

Counts are 0 <= n <= 2**31-1 so that they fit a PostgreSQL ``integer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from devices.envelope import Envelope
from devices.errors import PayloadRejected, RejectReason, preview, schema_rejection

OCCUPANCY_SCHEMA = "occupancy.v1"
MAX_COUNT = 2**31 - 1

Trigger = Literal["interval", "change"]
TRIGGERS: tuple[str, ...] = get_args(Trigger)


def _count_problem(path: str, value: object) -> str | None:
    if type(value) is not int:  # bool is an int subclass and is not a count
        return f"{path}: {preview(value)} must be an integer"
    if not 0 <= value <= MAX_COUNT:
        return f"{path}: {value} must be in 0..{MAX_COUNT}"
    return None


@dataclass(frozen=True, slots=True)
class RegionCount:
    """People counted in one named region of a sensor's view; ValueError when built from impossible values."""

    name: str
    count: int
    occupied: bool

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: {preview(self.name)} must be a non-empty string")
        problem = _count_problem("count", self.count)
        if problem is not None:
            raise ValueError(problem)
        if not isinstance(self.occupied, bool):
            raise ValueError(f"occupied: {preview(self.occupied)} must be a boolean")


@dataclass(frozen=True, slots=True)
class OccupancyReading:
    """One occupancy observation, vendor-neutral; ValueError when built from impossible values."""

    people: int
    occupied: bool
    regions: tuple[RegionCount, ...]
    trigger: Trigger

    def __post_init__(self) -> None:
        problem = _count_problem("people", self.people)
        if problem is not None:
            raise ValueError(problem)
        if not isinstance(self.occupied, bool):
            raise ValueError(f"occupied: {preview(self.occupied)} must be a boolean")
        if not isinstance(self.regions, tuple) or not all(isinstance(r, RegionCount) for r in self.regions):
            raise ValueError("regions: must be a tuple of RegionCount")
        names = [region.name for region in self.regions]
        if len(set(names)) != len(names):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise ValueError(f"regions: region name {preview(duplicate)} appears more than once")
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger: {preview(self.trigger)} must be one of {', '.join(TRIGGERS)}")


class _RegionWire(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    count: int = Field(ge=0, le=MAX_COUNT)
    occupied: bool


class _OccupancyWire(BaseModel):
    # strict: no "3" for 3, no true for 1, no 1 for true; the edge already normalised vendor quirks.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    people: int = Field(ge=0, le=MAX_COUNT)
    occupied: bool
    regions: list[_RegionWire]
    trigger: Trigger


def occupancy_data(reading: OccupancyReading) -> dict[str, Any]:
    """The ``data`` object of an ``occupancy.v1`` envelope."""
    return {
        "people": reading.people,
        "occupied": reading.occupied,
        "regions": [{"name": r.name, "count": r.count, "occupied": r.occupied} for r in reading.regions],
        "trigger": reading.trigger,
    }


def occupancy_envelope(device_id: str, seq: int, ts: datetime, reading: OccupancyReading) -> Envelope:
    """Wrap a reading for the wire; ValueError for an unusable device id, seq or naive ts."""
    return Envelope(schema_name=OCCUPANCY_SCHEMA, device_id=device_id, ts=ts, seq=seq, data=occupancy_data(reading))


def occupancy_from_envelope(envelope: Envelope) -> OccupancyReading:
    """Read an ``occupancy.v1`` body; PayloadRejected(SCHEMA) naming the field when it is anything else."""
    if envelope.schema_name != OCCUPANCY_SCHEMA:
        raise PayloadRejected(
            RejectReason.SCHEMA, f"schema: {preview(envelope.schema_name)} is not {OCCUPANCY_SCHEMA!r}"
        )
    try:
        wire = _OccupancyWire.model_validate(envelope.data)
    except ValidationError as exc:
        raise schema_rejection(exc.errors(include_url=False, include_input=False), prefix="data") from None
    try:
        return OccupancyReading(
            people=wire.people,
            occupied=wire.occupied,
            regions=tuple(RegionCount(r.name, r.count, r.occupied) for r in wire.regions),
            trigger=wire.trigger,
        )
    except ValueError as exc:  # what a per-field schema cannot say, e.g. two regions with one name
        raise PayloadRejected(RejectReason.SCHEMA, f"data.{exc}") from None
