"""The edge→server envelope: what decode_envelope accepts, what it refuses and why, and that it never crashes."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.envelope import (
    DEFAULT_MAX_FUTURE,
    MAX_PAYLOAD_BYTES,
    Envelope,
    decode_envelope,
    encode_envelope,
    ensure_device_matches,
)
from devices.errors import MAX_DETAIL_CHARS, PayloadRejected, RejectReason

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
DATA = {"people": 3, "occupied": True, "regions": [], "trigger": "interval"}


def wire(**fields: Any) -> bytes:
    """An envelope document as JSON, with fields replaced (or removed with ``...``)."""
    document: dict[str, Any] = {
        "schema": "occupancy.v1",
        "device_id": "vs121-hall",
        "ts": "2026-11-27T10:00:00.123Z",
        "seq": 7,
        "data": DATA,
    }
    document.update(fields)
    document = {key: value for key, value in document.items() if value is not ...}
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _padded_to(size: int) -> bytes:
    """A valid envelope of exactly ``size`` bytes."""
    bare = wire(data={"pad": ""})
    return wire(data={"pad": "x" * (size - len(bare))})


def _expected(ts: datetime, seq: int = 7, data: dict[str, Any] | None = None) -> Envelope:
    return Envelope("occupancy.v1", "vs121-hall", ts, seq, DATA if data is None else data)


ACCEPTED = [
    pytest.param(wire(), _expected(datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC)), id="milliseconds"),
    pytest.param(
        wire(ts="2026-11-27T18:00:00+08:00"), _expected(datetime(2026, 11, 27, 10, 0, tzinfo=UTC)), id="offset"
    ),
    pytest.param(
        wire(ts="2026-11-27T10:00:00.123456Z"),
        _expected(datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)),
        id="microseconds",
    ),
    pytest.param(
        wire(ts="2026-11-27T10:00:00.123456789Z"),
        _expected(datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)),
        id="nanoseconds-truncated",
    ),
    pytest.param(
        wire(ts="2026-11-27 10:00:00z"), _expected(datetime(2026, 11, 27, 10, 0, tzinfo=UTC)), id="space-lowercase-z"
    ),
    pytest.param(
        wire(ts="2026-11-27T10:05:00Z"), _expected(datetime(2026, 11, 27, 10, 5, tzinfo=UTC)), id="exactly-max-future"
    ),
    pytest.param(wire(ts="2019-01-01T00:00:00Z"), _expected(datetime(2019, 1, 1, tzinfo=UTC)), id="years-old-replay"),
    pytest.param(wire(seq=0), _expected(datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC), 0), id="seq-zero"),
    pytest.param(
        wire(seq=2**63 - 1),
        _expected(datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC), 2**63 - 1),
        id="seq-bigint-max",
    ),
    pytest.param(
        wire(data={"名": ["é", 1.5, None, {"x": False}]}),
        _expected(datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC), data={"名": ["é", 1.5, None, {"x": False}]}),
        id="unicode-and-nesting",
    ),
    pytest.param(wire(data={}), _expected(datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC), data={}), id="empty"),
]


@pytest.mark.parametrize(("payload", "expected"), ACCEPTED)
def test_decode_envelope_accepts_valid_envelopes(payload: bytes, expected: Envelope) -> None:
    decoded = decode_envelope(payload, now=NOW)
    assert decoded == expected
    assert decoded.ts.tzinfo is UTC


def test_decode_envelope_accepts_a_payload_of_exactly_the_size_limit() -> None:
    payload = _padded_to(MAX_PAYLOAD_BYTES)
    assert len(payload) == MAX_PAYLOAD_BYTES
    assert decode_envelope(payload, now=NOW).data["pad"] == "x" * (MAX_PAYLOAD_BYTES - len(wire(data={"pad": ""})))


REJECTED = [
    pytest.param(wire(data={"pad": "x" * 1024 * 1024}), RejectReason.TOO_LARGE, "bytes", id="one-megabyte"),
    pytest.param(_padded_to(MAX_PAYLOAD_BYTES + 1), RejectReason.TOO_LARGE, "limit", id="one-byte-over"),
    pytest.param(b"", RejectReason.NOT_JSON, "", id="empty"),
    pytest.param(b'{"schema": "\xff"}', RejectReason.NOT_JSON, "UTF-8", id="invalid-utf8"),
    pytest.param(b"\xef\xbb\xbf" + wire(), RejectReason.NOT_JSON, "BOM", id="utf8-bom"),
    pytest.param(wire()[:-1], RejectReason.NOT_JSON, "", id="truncated"),
    pytest.param(b"[1, 2]", RejectReason.NOT_JSON, "array", id="top-level-array"),
    pytest.param(b'"occupancy"', RejectReason.NOT_JSON, "string", id="top-level-string"),
    pytest.param(b"42", RejectReason.NOT_JSON, "number", id="top-level-number"),
    pytest.param(b"null", RejectReason.NOT_JSON, "null", id="top-level-null"),
    pytest.param(b"[" * 50_000, RejectReason.NOT_JSON, "nested", id="deeply-nested"),
    pytest.param(
        wire().replace(b'"seq": 7', b'"seq": ' + b"9" * 5000), RejectReason.NOT_JSON, "digits", id="5000-digit-number"
    ),
    pytest.param(wire(data={"p": math.nan}), RejectReason.NON_FINITE, "NaN", id="nan"),
    pytest.param(wire(data={"p": [math.inf]}), RejectReason.NON_FINITE, "Infinity", id="infinity"),
    pytest.param(wire(data={"a": {"b": -math.inf}}), RejectReason.NON_FINITE, "-Infinity", id="minus-infinity"),
    pytest.param(wire(seq=7).replace(b'"seq": 7', b'"seq": NaN'), RejectReason.NON_FINITE, "NaN", id="nan-seq"),
    pytest.param(wire().replace(b'"people": 3', b'"people": 1e309'), RejectReason.NON_FINITE, "1e309", id="1e309"),
    pytest.param(wire().replace(b'"people": 3', b'"people": -2E+400'), RejectReason.NON_FINITE, "", id="-2e400"),
    pytest.param(wire(ts="2027-01-01T00:00:00Z"), RejectReason.FUTURE_TIMESTAMP, "ts", id="far-future"),
    pytest.param(wire(ts="2026-11-27T10:05:00.001Z"), RejectReason.FUTURE_TIMESTAMP, "ts", id="just-past-skew"),
    pytest.param(wire(ts="2026-11-27T10:00:00"), RejectReason.SCHEMA, "ts: ", id="naive-ts"),
    pytest.param(wire(ts="2026-11-27"), RejectReason.SCHEMA, "ts: ", id="date-only"),
    pytest.param(wire(ts="27/11/2026 10:00:00Z"), RejectReason.SCHEMA, "ts: ", id="not-rfc3339"),
    pytest.param(wire(ts=1795600000), RejectReason.SCHEMA, "ts: ", id="unix-seconds"),
    pytest.param(wire(ts="2026-02-30T10:00:00Z"), RejectReason.SCHEMA, "ts: ", id="impossible-date"),
    pytest.param(wire(ts="2026-11-27T10:00:60Z"), RejectReason.SCHEMA, "ts: ", id="leap-second"),
    pytest.param(wire(ts="9999-12-31T23:00:00-02:00"), RejectReason.SCHEMA, "ts: ", id="beyond-year-9999"),
    pytest.param(wire(seq=True), RejectReason.SCHEMA, "seq: ", id="bool-as-int"),
    pytest.param(wire(seq=7.0), RejectReason.SCHEMA, "seq: ", id="float-seq"),
    pytest.param(wire(seq="7"), RejectReason.SCHEMA, "seq: ", id="string-seq"),
    pytest.param(wire(seq=-1), RejectReason.SCHEMA, "seq: ", id="negative-seq"),
    pytest.param(wire(seq=2**63), RejectReason.SCHEMA, "seq: ", id="seq-beyond-bigint"),
    pytest.param(wire(seq=...), RejectReason.SCHEMA, "seq: Field required", id="missing-seq"),
    pytest.param(wire(data=...), RejectReason.SCHEMA, "data: Field required", id="missing-data"),
    pytest.param(wire(schema=...), RejectReason.SCHEMA, "schema: Field required", id="missing-schema"),
    pytest.param(wire(raw={}), RejectReason.SCHEMA, "'raw'", id="extra-field"),
    pytest.param(
        wire().replace(b'"seq": 7', b'"seq": 7, "seq": 8'), RejectReason.SCHEMA, "'seq': key given", id="duplicate-key"
    ),
    pytest.param(wire(schema="occupancy"), RejectReason.SCHEMA, "schema: ", id="schema-without-version"),
    pytest.param(wire(schema="Occupancy.v1"), RejectReason.SCHEMA, "schema: ", id="schema-uppercase"),
    pytest.param(wire(schema="occupancy.v0"), RejectReason.SCHEMA, "schema: ", id="schema-version-zero"),
    pytest.param(wire(schema=1), RejectReason.SCHEMA, "schema: ", id="schema-number"),
    pytest.param(wire(device_id="VS121-Hall"), RejectReason.SCHEMA, "device_id: ", id="device-id-uppercase"),
    pytest.param(wire(device_id="_queue"), RejectReason.SCHEMA, "device_id: ", id="device-id-underscore-not-the-agent"),
    pytest.param(wire(device_id="sc/v1/#"), RejectReason.SCHEMA, "device_id: ", id="device-id-wildcard"),
    pytest.param(wire(device_id=121), RejectReason.SCHEMA, "device_id: ", id="device-id-number"),
    pytest.param(wire(data=[1, 2]), RejectReason.SCHEMA, "data: ", id="data-array"),
    pytest.param(wire(data=None), RejectReason.SCHEMA, "data: ", id="data-null"),
    pytest.param(wire(data={"name": "a\x00b"}), RejectReason.SCHEMA, "data.name: ", id="nul-in-string"),
    pytest.param(wire(data={"a\x00": 1}), RejectReason.SCHEMA, "data: key", id="nul-in-key"),
    pytest.param(
        wire(data={"x": "PLACEHOLDER"}).replace(b"PLACEHOLDER", b"\\ud800"),
        RejectReason.SCHEMA,
        "data.x: ",
        id="lone-surrogate",
    ),
    pytest.param(wire(data={"a": json.loads("[" * 40 + "]" * 40)}), RejectReason.SCHEMA, "nested", id="data-too-deep"),
]


@pytest.mark.parametrize(("payload", "reason", "detail"), REJECTED)
def test_decode_envelope_rejects_with_the_reason_and_field(payload: bytes, reason: RejectReason, detail: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        decode_envelope(payload, now=NOW)
    assert caught.value.reason is reason
    assert detail in caught.value.detail
    assert 0 < len(caught.value.detail) <= MAX_DETAIL_CHARS
    assert str(caught.value) == f"{reason.value}: {caught.value.detail}"


def test_max_future_is_the_callers_choice() -> None:
    payload = wire(ts="2026-11-27T11:00:00Z")
    assert decode_envelope(payload, now=NOW, max_future=timedelta(hours=1)).ts == datetime(2026, 11, 27, 11, tzinfo=UTC)
    with pytest.raises(PayloadRejected):
        decode_envelope(payload, now=NOW, max_future=DEFAULT_MAX_FUTURE)


def test_encode_envelope_is_compact_utc_json_with_a_z() -> None:
    envelope = Envelope(
        "occupancy.v1",
        "vs121-hall",
        datetime(2026, 11, 27, 18, 0, tzinfo=timezone(timedelta(hours=8))),
        7,
        {"people": 0},
    )
    assert encode_envelope(envelope) == (
        b'{"schema":"occupancy.v1","device_id":"vs121-hall","ts":"2026-11-27T10:00:00.000Z","seq":7,'
        b'"data":{"people":0}}'
    )
    assert envelope.schema_kind == "occupancy"
    assert envelope.schema_version == 1


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"ts": datetime(2026, 11, 27, 10, 0)}, id="naive-ts"),
        pytest.param({"seq": -1}, id="negative-seq"),
        pytest.param({"seq": False}, id="bool-seq"),
        pytest.param({"device_id": "Hall"}, id="bad-device-id"),
        pytest.param({"schema_name": "occupancy"}, id="bad-schema"),
        pytest.param({"data": {"x": math.nan}}, id="nan-data"),
        pytest.param({"data": {"x": object()}}, id="not-json-data"),
    ],
)
def test_envelope_refuses_to_be_built_from_values_it_could_not_send(fields: dict[str, Any]) -> None:
    values: dict[str, Any] = {"schema_name": "occupancy.v1", "device_id": "d1", "ts": NOW, "seq": 1, "data": {}}
    with pytest.raises(ValueError):  # noqa: PT011 - the message is free text; the type is the contract
        Envelope(**(values | fields))


def test_ensure_device_matches_rejects_a_payload_claiming_another_device() -> None:
    envelope = decode_envelope(wire(), now=NOW)
    ensure_device_matches(envelope, "vs121-hall")
    with pytest.raises(PayloadRejected) as caught:
        ensure_device_matches(envelope, "vs121-lobby")
    assert caught.value.reason is RejectReason.DEVICE_MISMATCH


# --- properties ---------------------------------------------------------------------------------------------------

_storable_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12
)  # what PostgreSQL jsonb can hold
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _storable_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_storable_text, children, max_size=4),
    max_leaves=20,
)
_objects = st.dictionaries(_storable_text, _json_values, max_size=5)
_envelopes = st.builds(
    Envelope,
    schema_name=st.from_regex(r"[a-z][a-z0-9_]{0,20}\.v[1-9][0-9]{0,3}", fullmatch=True),
    device_id=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True),
    ts=st.datetimes(
        min_value=datetime(1, 1, 2),  # hypothesis bounds are naive; timezones= makes values aware
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=3, minutes=30))]),
    ),
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    data=_objects,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_envelopes)
def test_envelope_round_trips_through_the_wire(envelope: Envelope) -> None:
    payload = encode_envelope(envelope)
    decoded = decode_envelope(payload, now=envelope.ts)
    assert decoded == envelope
    assert encode_envelope(decoded) == payload


def _decodes_or_rejects(payload: bytes) -> None:
    rejection: PayloadRejected | None = None
    try:
        decode_envelope(payload, now=NOW)
    except PayloadRejected as exc:
        rejection = exc
    if rejection is not None:
        assert isinstance(rejection.reason, RejectReason)
        assert 0 < len(rejection.detail) <= MAX_DETAIL_CHARS


@settings(deadline=None)
@given(st.binary(max_size=512))
def test_decode_envelope_raises_only_payload_rejected_on_any_bytes(payload: bytes) -> None:
    _decodes_or_rejects(payload)


_any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(deadline=None)
@given(_any_json)
def test_decode_envelope_raises_only_payload_rejected_on_any_json_value(value: object) -> None:
    _decodes_or_rejects(json.dumps(value).encode("utf-8"))


@settings(deadline=None)
@given(st.fixed_dictionaries({key: _any_json for key in ("schema", "device_id", "ts", "seq", "data")}))
def test_decode_envelope_raises_only_payload_rejected_on_envelope_shaped_objects(document: dict[str, Any]) -> None:
    _decodes_or_rejects(json.dumps(document).encode("utf-8"))


def test_the_edge_agent_sends_envelopes_of_its_own() -> None:
    """The site queue lives in the edge agent: its events travel as device ``_agent`` (devices.queue_contract)."""
    envelope = decode_envelope(wire(device_id="_agent"), now=NOW)
    assert envelope.device_id == "_agent"
