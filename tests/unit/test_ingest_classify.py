"""Classifying one broker message: identity from the topic, reasons for every refusal, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.envelope import encode_envelope
from devices.mqtt_link import InboundMessage
from devices.readings import OccupancyReading, RegionCount, occupancy_envelope
from devices.site import load_belt
from server.db.readings import StoredReading
from server.db.rejects import IngestReject
from server.ingest.classify import INTERNAL_ERROR, classify_message, unclassifiable

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
DEVICE = "complex-sharing-space-occupancy"
TOPIC = f"sc/v1/complex/{DEVICE}/event/occupancy"
BELT = load_belt()


def message(payload: bytes, topic: str = TOPIC) -> InboundMessage:
    return InboundMessage(topic=topic, payload=payload, qos=1, retain=False, mid=1)


def envelope(device_id: str = DEVICE, people: int = 4) -> bytes:
    reading = OccupancyReading(
        people=people, occupied=True, regions=(RegionCount("desk", people, True),), trigger="change"
    )
    return encode_envelope(occupancy_envelope(device_id, 9, NOW - timedelta(seconds=3), reading))


def classify(msg: InboundMessage) -> StoredReading | IngestReject:
    return classify_message(msg, belt=BELT, root="sc", now=NOW, max_future=timedelta(minutes=5))


def test_a_good_envelope_becomes_a_reading_of_the_devices_space() -> None:
    stored = classify(message(envelope()))
    assert isinstance(stored, StoredReading)
    assert (stored.site_id, stored.space_id, stored.people, stored.seq) == ("complex", "sharing-space", 4, 9)
    assert stored.regions_json == '[{"name":"desk","count":4,"occupied":true}]'
    assert stored.received_at == NOW


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, envelope(device_id="complex-party-school-occupancy"), "device_mismatch"),
        ("sc/v1/affairs-center/" + DEVICE + "/event/occupancy", envelope(), "unknown_device"),
        ("sc/v1/complex/nobody/event/occupancy", envelope(device_id="nobody"), "unknown_device"),
        ("sc/v2/complex/x/event/occupancy", envelope(), "bad_topic"),
        (TOPIC, b"\xff\xfe", "not_json"),
    ],
    ids=["payload-names-another-device", "device-of-another-site", "unknown-device", "bad-topic", "not-utf8"],
)
def test_refusals_carry_their_reason_and_the_payload_head(topic: str, payload: bytes, reason: str) -> None:
    reject = classify(message(payload, topic))
    assert isinstance(reject, IngestReject)
    assert (reject.reason, reject.topic, reject.payload_head, reject.payload_size) == (
        reason,
        topic,
        payload[:1024],
        len(payload),
    )
    assert reject.detail


def test_an_unexpected_failure_becomes_an_internal_error_reject() -> None:
    reject = unclassifiable(message(b"{}"), now=NOW, error=RuntimeError("boom"))
    assert (reject.reason, reject.detail) == (INTERNAL_ERROR, "RuntimeError: boom")
