"""The edge→server envelope: one JSON object per observation, published on ``…/event/<kind>``.

    {"schema":"occupancy.v1","device_id":"vs121-hall","ts":"2026-11-27T10:00:00.123Z","seq":7,"data":{...}}

- ``schema``: ``<kind>.v<N>``; ``data`` is validated against it by the reader for that kind (``devices.readings``).
- ``ts``: when the device observed it, RFC 3339 with an offset (``Z`` on output), held as aware UTC.
- ``seq``: per device, increasing, 0 <= seq < 2**63 (a PostgreSQL bigint); sinks dedupe on ``(device_id, seq)``.
- ``data``: a JSON object of finite numbers, and strings without NUL or unpaired surrogates (PostgreSQL ``jsonb``
  refuses both), nested at most :data:`MAX_DATA_DEPTH` deep.

:func:`decode_envelope` takes untrusted bytes and raises nothing but :class:`PayloadRejected`. Timestamps in the past
are accepted however old: an edge outbox replays hours of readings after an outage.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.errors import PayloadRejected, RejectReason, preview
from devices.topics import is_sender_id

MAX_PAYLOAD_BYTES = 64 * 1024
DEFAULT_MAX_FUTURE = timedelta(minutes=5)
MAX_SEQ = 2**63 - 1
MAX_DATA_DEPTH = 32

_FIELDS = ("schema", "device_id", "ts", "seq", "data")
_SCHEMA_NAME = re.compile(r"([a-z][a-z0-9_]{0,62})\.v([1-9][0-9]{0,8})")
# RFC 3339 date-time (section 5.6), with a space allowed for "T" as its note permits; fractions up to nanoseconds.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?")
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Envelope:
    """One observation from one device. Construction validates; ValueError for values that could not be sent."""

    schema_name: str
    device_id: str
    ts: datetime
    seq: int
    # Treat as read-only. Left out of the hash (a dict has none); equality still compares it.
    data: Mapping[str, Any] = field(hash=False)

    def __post_init__(self) -> None:
        problem = _field_problem(self.schema_name, self.device_id, self.ts, self.seq, self.data)
        if problem is not None:
            raise ValueError(problem)
        try:
            object.__setattr__(self, "ts", self.ts.astimezone(UTC))
        except OverflowError:
            raise ValueError(f"ts: {self.ts.isoformat()} is outside years 1..9999 in UTC") from None
        object.__setattr__(self, "data", dict(self.data))

    @property
    def schema_kind(self) -> str:
        return self.schema_name.partition(".v")[0]

    @property
    def schema_version(self) -> int:
        return int(self.schema_name.rpartition(".v")[2])


def encode_envelope(envelope: Envelope) -> bytes:
    """Compact UTF-8 JSON; ``ts`` in UTC with ``Z``, milliseconds (or microseconds when they are not zero)."""
    ts = envelope.ts.astimezone(UTC)
    timespec = "milliseconds" if ts.microsecond % 1000 == 0 else "microseconds"
    document = {
        "schema": envelope.schema_name,
        "device_id": envelope.device_id,
        "ts": ts.replace(tzinfo=None).isoformat(timespec=timespec) + "Z",
        "seq": envelope.seq,
        "data": envelope.data,
    }
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def decode_envelope(payload: bytes, *, now: datetime, max_future: timedelta = DEFAULT_MAX_FUTURE) -> Envelope:
    """Validate untrusted bytes into an Envelope; PayloadRejected (and nothing else) says why not.

    ``now`` (aware) is the receiver's clock; a ``ts`` later than ``now + max_future`` is refused (clock skew bound).
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    document = load_json_object(payload, max_bytes=MAX_PAYLOAD_BYTES, reject_duplicate_keys=True)
    for key in _FIELDS:
        if key not in document:
            raise PayloadRejected(RejectReason.SCHEMA, f"{key}: Field required")
    for key in document:
        if key not in _FIELDS:
            raise PayloadRejected(RejectReason.SCHEMA, f"{preview(key)}: Extra inputs are not permitted")
    ts = _parse_timestamp(document["ts"])
    try:
        envelope = Envelope(document["schema"], document["device_id"], ts, document["seq"], document["data"])
    except ValueError as exc:  # __post_init__ names the field: "seq: True must be an integer"
        raise PayloadRejected(RejectReason.SCHEMA, str(exc)) from None
    try:
        latest = now + max_future
    except OverflowError:
        latest = datetime.max.replace(tzinfo=UTC)
    if ts > latest:
        raise PayloadRejected(
            RejectReason.FUTURE_TIMESTAMP, f"ts: {document['ts']} is later than now + {max_future} ({now.isoformat()})"
        )
    return envelope


def ensure_device_matches(envelope: Envelope, device_id: str) -> None:
    """The device id comes from the topic (which the broker ties to credentials); the payload must agree."""
    if envelope.device_id != device_id:
        raise PayloadRejected(
            RejectReason.DEVICE_MISMATCH,
            f"device_id: payload says {preview(envelope.device_id)}, topic says {preview(device_id)}",
        )


class _NonFinite(Exception):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e309 and friends overflow to infinity
        raise _NonFinite(text)
    return value


def _no_constants(text: str) -> float:
    raise _NonFinite(text)  # NaN, Infinity, -Infinity: Python's json accepts them, JSON does not


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:  # legal JSON, but which value did the sender mean?
            raise PayloadRejected(RejectReason.SCHEMA, f"{preview(key)}: key given more than once")
        document[key] = value
    return document


def load_json_object(payload: bytes, *, max_bytes: int, reject_duplicate_keys: bool) -> dict[str, Any]:
    """Size check, UTF-8, strict JSON (no NaN/Infinity/overflow), top level an object: the first gate of a decoder.

    Shared with the vendor adapters so that every decoder refuses the same things for the same reasons.
    """
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise PayloadRejected(RejectReason.NOT_JSON, f"payload is {type(payload).__name__}, not bytes")
    if len(payload) > max_bytes:
        raise PayloadRejected(RejectReason.TOO_LARGE, f"{len(payload)} bytes, limit {max_bytes}")
    try:
        text = bytes(payload).decode("utf-8")
        document = json.loads(
            text,
            parse_float=_finite_float,
            parse_constant=_no_constants,
            object_pairs_hook=_unique_keys if reject_duplicate_keys else None,
        )
    except _NonFinite as exc:
        raise PayloadRejected(RejectReason.NON_FINITE, f"non-finite number {preview(str(exc))}") from None
    except UnicodeDecodeError as exc:
        raise PayloadRejected(RejectReason.NOT_JSON, f"not UTF-8 at byte {exc.start}") from None
    except RecursionError:
        raise PayloadRejected(RejectReason.NOT_JSON, "nested too deeply to parse") from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing a number of more than 4300 digits
        raise PayloadRejected(RejectReason.NOT_JSON, str(exc)) from None
    if not isinstance(document, dict):
        raise PayloadRejected(RejectReason.NOT_JSON, f"top level is {_json_type(document)}, not an object")
    return document


def _parse_timestamp(value: object) -> datetime:
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PayloadRejected(RejectReason.SCHEMA, f"ts: {preview(value)} is not an RFC 3339 date-time")
    if match.group(2) is None:
        raise PayloadRejected(RejectReason.SCHEMA, f"ts: {preview(value)} has no UTC offset")
    try:  # fromisoformat keeps microseconds and drops finer digits
        return datetime.fromisoformat(match.group().upper().replace(" ", "T")).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # 2026-02-30, 24:00:00, or a UTC instant outside years 1..9999
        raise PayloadRejected(RejectReason.SCHEMA, f"ts: {preview(value)}: {exc}") from None


def _field_problem(schema_name: object, device_id: object, ts: object, seq: object, data: object) -> str | None:
    """What is wrong with an envelope's fields, as ``<field>: <why>``, or None."""
    if not isinstance(schema_name, str) or _SCHEMA_NAME.fullmatch(schema_name) is None:
        return f"schema: {preview(schema_name)} is not <name>.v<N> (e.g. 'occupancy.v1')"
    if not isinstance(device_id, str) or not is_sender_id(device_id):
        return f"device_id: {preview(device_id)} must match [a-z0-9][a-z0-9_-]{{0,62}} (or be _agent)"
    if not isinstance(ts, datetime) or ts.utcoffset() is None:
        return f"ts: {preview(ts)} must be a timezone-aware datetime"
    if type(seq) is not int:  # bool is an int subclass and is not a sequence number
        return f"seq: {preview(seq)} must be an integer"
    if not 0 <= seq <= MAX_SEQ:
        return f"seq: {seq} must be in 0..2**63-1"
    if not isinstance(data, Mapping):
        return f"data: {_json_type(data)} given, an object is required"
    return _json_value_problem(data)


def _json_value_problem(data: Mapping[str, Any]) -> str | None:
    # Iterative walk: a recursive one could hit Python's recursion limit on payloads json.loads itself accepted.
    # Paths are kept as (key, parent) links and spelt out only for the one value that is wrong: building a
    # string per value cost a third of the decoding time on the ingest's hot path.
    pending: list[tuple[_PathLink, object, int]] = [(("data", None), data, 1)]
    while pending:
        link, value, depth = pending.pop()
        if depth > MAX_DATA_DEPTH:
            return f"{_spell(link)}: nested more than {MAX_DATA_DEPTH} levels"
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str) or _BAD_CHARS.search(key):
                    return f"{_spell(link)}: key {preview(key)} must be a string without NUL or lone surrogates"
                pending.append(((key, link), item, depth + 1))
        elif isinstance(value, list | tuple):
            pending.extend(((str(index), link), item, depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str):
            if _BAD_CHARS.search(value):
                return f"{_spell(link)}: string contains NUL or an unpaired surrogate"
        elif isinstance(value, float):
            if not math.isfinite(value):
                return f"{_spell(link)}: {value} is not a finite number"
        elif value is not None and not isinstance(value, int):  # int covers bool
            return f"{_spell(link)}: {type(value).__name__} is not a JSON value"
    return None


# A path into the data, innermost key first: ("count", ("0", ("regions", ("data", None)))) is data.regions.0.count.
_PathLink = tuple[str, Any]


def _spell(link: _PathLink | None) -> str:
    keys: list[str] = []
    while link is not None:
        keys.append(link[0])
        link = link[1]
    return ".".join(reversed(keys))


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
