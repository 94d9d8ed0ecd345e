"""The retained health of a device (and of an edge agent) on ``<root>/v1/<site>/<device_id>/status``.

    {"state": "online", "since": "2026-11-28T01:00:00.000Z", "last_seen": "2026-11-28T02:00:05.120Z",
     "detail": "", "reported_at": "2026-11-28T02:00:05.200Z"}

- ``state``: ``online`` (answering), ``stale`` (answering, but its values stopped changing, or it missed reports:
  no count from it is trusted), ``offline`` (not answering), and for the agent itself also ``lost`` (the broker
  published its last will). The agent publishes ``{"state": "online"}`` and friends with no other keys.
- ``since``: when it entered this state; ``last_seen``: its last good read or message (null: never).
The edge publishes it retained with QoS 1 whenever a state changes, and again after reconnecting to the centre.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from devices.envelope import load_json_object
from devices.errors import PayloadRejected, RejectReason, schema_rejection
from devices.timestamps import utc_text

HealthState = Literal["online", "stale", "offline", "lost"]
MAX_STATUS_BYTES = 4096


@dataclass(frozen=True, slots=True)
class StatusReport:
    state: HealthState
    since: datetime | None
    last_seen: datetime | None
    detail: str
    reported_at: datetime | None


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return utc_text(value)


def encode_status(report: StatusReport) -> bytes:
    document = {
        "state": report.state,
        "since": _ts(report.since),
        "last_seen": _ts(report.last_seen),
        "detail": report.detail,
        "reported_at": _ts(report.reported_at),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class _StatusWire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    state: HealthState
    since: datetime | None = None
    last_seen: datetime | None = None
    detail: str = ""
    reported_at: datetime | None = None


def decode_status(payload: bytes) -> StatusReport:
    """A status payload; PayloadRejected when it is not one. Unknown keys are ignored (older/newer agents)."""
    document = load_json_object(payload, max_bytes=MAX_STATUS_BYTES, reject_duplicate_keys=True)
    try:
        wire = _StatusWire.model_validate(document)
    except ValidationError as exc:
        raise schema_rejection(exc.errors(include_url=False, include_input=False), whole="(status)") from None
    stamps = {}
    for name in ("since", "last_seen", "reported_at"):
        value = getattr(wire, name)
        if value is not None and value.utcoffset() is None:
            raise PayloadRejected(RejectReason.SCHEMA, f"{name}: has no UTC offset")
        stamps[name] = value.astimezone(UTC) if value is not None else None
    return StatusReport(wire.state, stamps["since"], stamps["last_seen"], wire.detail[:500], stamps["reported_at"])
