"""The outbox sample's wire: what the agent encodes is what the server decodes, bad samples are refused by field with
PayloadRejected only, and the ingest turns a sample into a row (or a reject with its reason, never an exception)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import PayloadRejected, RejectReason
from devices.mqtt_link import InboundMessage
from devices.outbox_report import (
    MAX_INT4,
    MAX_INT8,
    MAX_REPORT_BYTES,
    OutboxSample,
    decode_outbox_sample,
    encode_outbox_sample,
    outbox_report_subscription,
    outbox_report_topic,
)
from devices.site import load_belt
from devices.topics import Channel, parse_device_topic
from server.db.edge_outbox import EdgeOutboxSample
from server.db.rejects import IngestReject
from server.ingest.classify import classify_message, reject_delivery_key

NOW = datetime(2026, 11, 28, 2, 0, 30, tzinfo=UTC)
SAMPLE = OutboxSample(ts=NOW, depth=1234, oldest_age_s=812.5034, dropped_telemetry=7, max_rows=200_000)
GOOD_DOCUMENT: dict[str, Any] = {
    "ts": "2026-11-28T02:00:30.000Z",
    "depth": 1234,
    "oldest_age_s": 812.503,
    "dropped_telemetry": 7,
    "max_rows": 200000,
}
BELT = load_belt()
TOPIC = "sc/v1/complex/_agent/state/outbox"


def payload(**changes: Any) -> bytes:
    document = {**GOOD_DOCUMENT, **changes}
    return json.dumps({key: value for key, value in document.items() if value is not ...}).encode()


# --- the codec -------------------------------------------------------------------------------------------------


def test_a_sample_is_encoded_as_compact_json_with_utc_milliseconds() -> None:
    assert encode_outbox_sample(SAMPLE) == (
        b'{"ts":"2026-11-28T02:00:30.000Z","depth":1234,"oldest_age_s":812.503,"dropped_telemetry":7,"max_rows":200000}'
    )


def test_an_empty_outbox_has_no_oldest_age() -> None:
    empty = OutboxSample(ts=NOW, depth=0, oldest_age_s=None, dropped_telemetry=0, max_rows=1)
    assert json.loads(encode_outbox_sample(empty))["oldest_age_s"] is None
    assert decode_outbox_sample(encode_outbox_sample(empty)) == empty


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T02:00:30.000Z", NOW),
        ("2026-11-28T10:00:30+08:00", NOW),
        ("2026-11-28t02:00:30z", NOW),
        ("2026-11-28 02:00:30.123456789Z", NOW + timedelta(microseconds=123456)),
    ],
)
def test_ts_is_any_rfc_3339_time_with_an_offset_held_as_utc(text: str, expected: datetime) -> None:
    sample = decode_outbox_sample(payload(ts=text))
    assert sample.ts == expected
    assert sample.ts.tzinfo is UTC


def test_unknown_keys_are_ignored_for_newer_agents() -> None:
    assert decode_outbox_sample(payload(interval_s=30, agent="1.2")).depth == 1234


@pytest.mark.parametrize(
    ("raw", "reason", "where"),
    [
        (payload(ts=...), RejectReason.SCHEMA, "ts: Field required"),
        (payload(ts="2026-11-28T02:00:30"), RejectReason.SCHEMA, "with an offset"),
        (payload(ts="2026-11-28"), RejectReason.SCHEMA, "ts: "),
        (payload(ts="2026-02-30T00:00:00Z"), RejectReason.SCHEMA, "ts: "),
        (payload(ts=1764295230), RejectReason.SCHEMA, "ts: "),
        (payload(depth=...), RejectReason.SCHEMA, "depth: Field required"),
        (payload(depth=-1), RejectReason.SCHEMA, "depth: "),
        (payload(depth=MAX_INT4 + 1), RejectReason.SCHEMA, "depth: "),
        (payload(depth="12"), RejectReason.SCHEMA, "depth: "),
        (payload(depth=12.0), RejectReason.SCHEMA, "depth: "),
        (payload(depth=True), RejectReason.SCHEMA, "depth: "),
        (payload(oldest_age_s=...), RejectReason.SCHEMA, "oldest_age_s: Field required"),
        (payload(oldest_age_s=-0.5), RejectReason.SCHEMA, "oldest_age_s: "),
        (payload(oldest_age_s="5"), RejectReason.SCHEMA, "oldest_age_s: "),
        (payload(oldest_age_s=10**400), RejectReason.SCHEMA, "oldest_age_s: "),
        (payload(dropped_telemetry=-1), RejectReason.SCHEMA, "dropped_telemetry: "),
        (payload(dropped_telemetry=MAX_INT8 + 1), RejectReason.SCHEMA, "dropped_telemetry: "),
        (payload(max_rows=0), RejectReason.SCHEMA, "max_rows: "),
        (
            b'{"ts":"2026-11-28T02:00:30Z","depth":1,"depth":2}',
            RejectReason.SCHEMA,
            "'depth': key given more than once",
        ),
        (payload().replace(b"812.503", b"NaN"), RejectReason.NON_FINITE, "non-finite"),
        (b"[1, 2]", RejectReason.NOT_JSON, "not an object"),
        (b"\xff", RejectReason.NOT_JSON, "UTF-8"),
        (b"", RejectReason.NOT_JSON, ""),
        (b" " * (MAX_REPORT_BYTES + 1), RejectReason.TOO_LARGE, "limit"),
    ],
    ids=[
        "no-ts",
        "ts-without-offset",
        "ts-a-date",
        "ts-no-such-day",
        "ts-a-number",
        "no-depth",
        "depth-negative",
        "depth-past-integer",
        "depth-a-string",
        "depth-a-float",
        "depth-a-bool",
        "no-oldest-age",
        "age-negative",
        "age-a-string",
        "age-overflows",
        "dropped-negative",
        "dropped-past-bigint",
        "max-rows-zero",
        "duplicate-key",
        "nan",
        "an-array",
        "not-utf8",
        "empty",
        "too-large",
    ],
)
def test_a_bad_sample_is_refused_naming_the_field(raw: bytes, reason: RejectReason, where: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        decode_outbox_sample(raw)
    assert caught.value.reason is reason
    assert where.lower() in caught.value.detail.lower()


@given(
    ts=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    depth=st.integers(0, MAX_INT4),
    oldest_age_s=st.none() | st.floats(0, 1e9, allow_nan=False, allow_infinity=False),
    dropped_telemetry=st.integers(0, MAX_INT8),
    max_rows=st.integers(1, MAX_INT4),
)
def test_what_the_agent_encodes_the_server_decodes(
    ts: datetime, depth: int, oldest_age_s: float | None, dropped_telemetry: int, max_rows: int
) -> None:
    sample = OutboxSample(ts, depth, oldest_age_s, dropped_telemetry, max_rows)
    decoded = decode_outbox_sample(encode_outbox_sample(sample))
    # The wire carries milliseconds: ts and the age come back rounded to them.
    assert decoded.ts == ts.replace(microsecond=ts.microsecond // 1000 * 1000)
    assert (decoded.depth, decoded.dropped_telemetry, decoded.max_rows) == (depth, dropped_telemetry, max_rows)
    if oldest_age_s is None:
        assert decoded.oldest_age_s is None
    else:
        assert decoded.oldest_age_s == pytest.approx(oldest_age_s, abs=0.0005)
    assert encode_outbox_sample(decoded) == encode_outbox_sample(sample)


@pytest.mark.parametrize(
    "changes",
    [
        {"ts": datetime(2026, 11, 28)},
        {"depth": -1},
        {"depth": MAX_INT4 + 1},
        {"depth": True},
        {"oldest_age_s": float("nan")},
        {"oldest_age_s": -1.0},
        {"dropped_telemetry": -1},
        {"max_rows": 0},
    ],
)
def test_a_sample_the_wire_cannot_carry_cannot_be_made(changes: dict[str, Any]) -> None:
    fields = {"ts": NOW, "depth": 1, "oldest_age_s": 1.0, "dropped_telemetry": 0, "max_rows": 10, **changes}
    with pytest.raises(ValueError, match=next(iter(changes))):
        OutboxSample(**fields)


def test_samples_travel_on_the_agents_state_outbox_topic() -> None:
    topic = parse_device_topic(outbox_report_topic("complex"))
    assert (topic.site_id, topic.is_agent, topic.channel, topic.name) == ("complex", True, Channel.STATE, "outbox")
    assert outbox_report_topic("complex", root="t-1/sc") == "t-1/sc/v1/complex/_agent/state/outbox"
    assert outbox_report_subscription() == "sc/v1/+/_agent/state/outbox"
    with pytest.raises(ValueError, match="root"):
        outbox_report_subscription(root="Bad Root")


# --- the ingest's classification ----------------------------------------------------------------------------------


def message(raw: bytes, topic: str = TOPIC, *, retain: bool = False) -> InboundMessage:
    return InboundMessage(topic=topic, payload=raw, qos=1, retain=retain, mid=1)


def classify(msg: InboundMessage) -> object:
    return classify_message(msg, belt=BELT, root="sc", now=NOW + timedelta(seconds=1), max_future=timedelta(minutes=5))


def test_a_sample_becomes_a_row_of_its_site_received_now() -> None:
    row = classify(message(payload(), retain=True))
    assert row == EdgeOutboxSample(
        site_id="complex",
        ts=NOW,
        received_at=NOW + timedelta(seconds=1),
        depth=1234,
        oldest_age_s=812.503,
        dropped_telemetry=7,
        max_rows=200_000,
    )


@pytest.mark.parametrize(
    ("topic", "raw", "reason", "detail"),
    [
        (TOPIC, payload(depth=-3), "schema", "depth: Input should be greater than or equal to 0"),
        (TOPIC, b"not json", "not_json", ""),
        (TOPIC, b"", "not_json", "retained outbox sample being cleared"),
        (TOPIC, payload(ts="2026-11-28T02:10:00Z"), "future_timestamp", "ts: "),
        ("sc/v1/nowhere/_agent/state/outbox", payload(), "unknown_device", "nowhere"),
        ("sc/v1/complex/_agent/state/queue", payload(), "bad_topic", "state/outbox"),
        ("sc/v1/complex/complex-sharing-space-occupancy/state/outbox", payload(), "bad_topic", "state/outbox"),
        ("sc/v1/complex/_agent/event/outbox", payload(), "bad_topic", "event/queue only"),
    ],
    ids=["bad-field", "not-json", "cleared", "future", "unknown-site", "other-state", "device-state", "as-event"],
)
def test_a_bad_sample_is_a_reject_with_its_reason(topic: str, raw: bytes, reason: str, detail: str) -> None:
    reject = classify(message(raw, topic))
    assert isinstance(reject, IngestReject)
    assert (reject.reason, reject.topic, reject.payload_head) == (reason, topic, raw)
    assert detail in reject.detail


def test_a_sample_is_never_confirmed_to_the_agent_like_an_envelope() -> None:
    assert reject_delivery_key(message(payload(seq=3)), root="sc") is None
