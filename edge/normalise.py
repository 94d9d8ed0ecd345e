"""Vendor payloads to our envelope: one adapter per device model, chosen by the model named in the site file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from devices.envelope import Envelope
from devices.errors import PayloadRejected, RejectReason
from devices.readings import OccupancyReading, occupancy_envelope
from devices.vendors.milesight_vs121 import VS121_MODEL, parse_vs121_report, vs121_to_reading

OccupancyAdapter = Callable[[bytes], tuple[datetime, OccupancyReading]]


def _milesight_vs121(payload: bytes) -> tuple[datetime, OccupancyReading]:
    return vs121_to_reading(parse_vs121_report(payload))


OCCUPANCY_ADAPTERS: dict[str, OccupancyAdapter] = {VS121_MODEL: _milesight_vs121}


def normalise_occupancy(*, model: str, device_id: str, seq: int, payload: bytes) -> Envelope:
    """Parse a vendor occupancy report into an ``occupancy.v1`` envelope; PayloadRejected says why not."""
    adapter = OCCUPANCY_ADAPTERS.get(model)
    if adapter is None:
        raise PayloadRejected(RejectReason.SCHEMA, f"no occupancy adapter for device model {model!r}")
    observed_at, reading = adapter(payload)
    return occupancy_envelope(device_id, seq, observed_at, reading)


def is_occupancy_model(model: str) -> bool:
    return model in OCCUPANCY_ADAPTERS
