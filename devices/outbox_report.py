"""How deep an edge agent's outbox is, sampled by the agent and sent to the centre for the "edge outbox depth" panel.

Topic: ``<root>/v1/<site>/_agent/state/outbox`` (:func:`outbox_report_topic`), QoS 1. Payload, compact UTF-8 JSON:

    {"ts":"2026-11-28T02:00:30.000Z","depth":1234,"oldest_age_s":812.503,"dropped_telemetry":0,"max_rows":200000}

- ``ts``: when the agent sampled its outbox, by the agent's clock; RFC 3339 with an offset (``Z`` on output). A
  site's samples are keyed by it at the centre, so a sample that arrives twice is stored once.
- ``depth``: envelopes waiting in the outbox for the server's confirmation, 0 <= depth < 2**31.
- ``oldest_age_s``: seconds since the oldest waiting envelope was queued, >= 0; null when the outbox is empty.
- ``dropped_telemetry``: telemetry envelopes deleted unsent because the outbox was full, ever (cumulative, survives
  restarts: the outbox file keeps it), 0 <= n < 2**63.
- ``max_rows``: the outbox's bound, 1 <= max_rows < 2**31.

Unknown keys are ignored (a newer agent may say more); a missing or mistyped one is refused by field.

Why not an envelope on ``event/outbox``: envelopes travel through the outbox (numbered, kept until confirmed), and a
sample of the outbox cannot wait in the thing it measures; it would also add itself to the depth it reports. So the
agent sends samples around the outbox: while the central link is up each sample is published at once; while it is
down the agent keeps the newest ones in memory (a bounded ring, edge/outbox_reporter.py) and publishes them, oldest
first, after reconnecting, so the graph shows the outbox growing during an uplink outage and draining after it.
A restart of the agent loses the ring: a gap in a monitoring graph, nothing more.

Retain: the newest sample of each publishing round is published retained (older, replayed ones are not), so the
topic's retained message is always the agent's current outbox, as ``state/<channel>`` means (devices/topics.py). A
subscriber that comes new (an ingest whose session the broker dropped, a second replica, an engineer's
``mosquitto_sub``) learns every site's depth at once instead of after the next interval; the ingest stores the
retained copy it gets on subscribing once more at most, which the ``(site_id, ts)`` key turns into nothing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from devices.envelope import load_json_object
from devices.errors import PayloadRejected, RejectReason, preview, schema_rejection
from devices.timestamps import utc_text
from devices.topics import AGENT_DEVICE_ID, TOPIC_ROOT, WIRE_VERSION, Channel, device_topic

OUTBOX_STATE_NAME = "outbox"
MAX_REPORT_BYTES = 1024
# Bounds of the centre's columns (integer, bigint): a value past them could never be stored.
MAX_INT4 = 2**31 - 1
MAX_INT8 = 2**63 - 1

# RFC 3339 date-time (section 5.6) with a mandatory offset; a space for "T" as its note permits.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True, slots=True)
class OutboxSample:
    """One look at an outbox. Construction validates; ValueError for values the wire cannot carry."""

    ts: datetime  # aware; held as UTC
    depth: int
    oldest_age_s: float | None
    dropped_telemetry: int
    max_rows: int

    def __post_init__(self) -> None:
        if self.ts.utcoffset() is None:
            raise ValueError(f"ts must be timezone-aware, got {self.ts!r}")
        object.__setattr__(self, "ts", self.ts.astimezone(UTC))
        _check_int("depth", self.depth, 0, MAX_INT4)
        _check_int("dropped_telemetry", self.dropped_telemetry, 0, MAX_INT8)
        _check_int("max_rows", self.max_rows, 1, MAX_INT4)
        age = self.oldest_age_s
        if age is not None and (isinstance(age, bool) or not isinstance(age, int | float) or not math.isfinite(age)):
            raise ValueError(f"oldest_age_s must be a finite number or None, got {age!r}")
        if age is not None and age < 0:
            raise ValueError(f"oldest_age_s must not be negative, got {age!r}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")


def outbox_report_topic(site_id: str, *, root: str = TOPIC_ROOT) -> str:
    """Where the agent of ``site_id`` publishes its samples: ``<root>/v1/<site>/_agent/state/outbox``."""
    return device_topic(site_id, AGENT_DEVICE_ID, Channel.STATE, OUTBOX_STATE_NAME, root=root)


def outbox_report_subscription(*, root: str = TOPIC_ROOT) -> str:
    """Every site's samples: ``<root>/v1/+/_agent/state/outbox``."""
    outbox_report_topic("x", root=root)  # ValueError for an unusable root
    return f"{root}/{WIRE_VERSION}/+/{AGENT_DEVICE_ID}/{Channel.STATE.value}/{OUTBOX_STATE_NAME}"


def encode_outbox_sample(sample: OutboxSample) -> bytes:
    """Compact JSON; ``ts`` to the millisecond with ``Z``, ``oldest_age_s`` to the millisecond."""
    document = {
        "ts": utc_text(sample.ts),
        "depth": sample.depth,
        "oldest_age_s": None if sample.oldest_age_s is None else round(float(sample.oldest_age_s), 3),
        "dropped_telemetry": sample.dropped_telemetry,
        "max_rows": sample.max_rows,
    }
    return json.dumps(document, separators=(",", ":")).encode()


class _SampleWire(BaseModel):
    # strict: a count written as "12", 12.0 or true is a bug of the sender, not a count.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    ts: str
    depth: Annotated[int, Field(ge=0, le=MAX_INT4)]
    oldest_age_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
    dropped_telemetry: Annotated[int, Field(ge=0, le=MAX_INT8)]
    max_rows: Annotated[int, Field(ge=1, le=MAX_INT4)]


def decode_outbox_sample(payload: bytes) -> OutboxSample:
    """A sample from untrusted bytes; PayloadRejected (and nothing else) saying what is wrong and where."""
    document = load_json_object(payload, max_bytes=MAX_REPORT_BYTES, reject_duplicate_keys=True)
    try:
        wire = _SampleWire.model_validate(document)
    except ValidationError as exc:
        raise schema_rejection(exc.errors(include_url=False, include_input=False), whole="(outbox sample)") from None
    return OutboxSample(
        ts=_parse_ts(wire.ts),
        depth=wire.depth,
        oldest_age_s=wire.oldest_age_s,
        dropped_telemetry=wire.dropped_telemetry,
        max_rows=wire.max_rows,
    )


def _parse_ts(text: str) -> datetime:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise PayloadRejected(RejectReason.SCHEMA, f"ts: {preview(text)} is not an RFC 3339 date-time with an offset")
    try:  # fromisoformat keeps microseconds and drops finer digits
        return datetime.fromisoformat(text.upper().replace(" ", "T")).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # 2026-02-30, 24:00:00, or an instant outside years 1..9999 in UTC
        raise PayloadRejected(RejectReason.SCHEMA, f"ts: {preview(text)}: {exc}") from None
