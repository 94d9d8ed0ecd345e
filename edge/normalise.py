"""Vendor payloads to our readings: one adapter per device model, chosen by the model named in the site file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from devices.errors import PayloadRejected, RejectReason
from devices.readings import OccupancyReading
from devices.vendors.milesight_vs121 import VS121_MODEL, parse_vs121_report, vs121_to_reading

OccupancyAdapter = Callable[[bytes], tuple[datetime, OccupancyReading]]


def _milesight_vs121(payload: bytes) -> tuple[datetime, OccupancyReading]:
    return vs121_to_reading(parse_vs121_report(payload))


OCCUPANCY_ADAPTERS: dict[str, OccupancyAdapter] = {VS121_MODEL: _milesight_vs121}


def parse_occupancy(*, model: str, payload: bytes) -> tuple[datetime, OccupancyReading]:
    """Parse a vendor occupancy report into (observed at, reading); PayloadRejected says why not."""
    adapter = OCCUPANCY_ADAPTERS.get(model)
    if adapter is None:
        raise PayloadRejected(RejectReason.SCHEMA, f"no occupancy adapter for device model {model!r}")
    return adapter(payload)


def is_occupancy_model(model: str) -> bool:
    return model in OCCUPANCY_ADAPTERS
