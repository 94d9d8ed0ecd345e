"""Classifying one broker message: identity from the topic, reasons for every refusal, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devices.device_status import StatusReport, encode_status
from devices.envelope import Envelope, encode_envelope
from devices.mqtt_link import InboundMessage
from devices.readings import OccupancyReading, RegionCount, occupancy_envelope
from devices.site import load_belt
from server.db.device_health import StatusUpdate
from server.db.events import StoredEvent
from server.db.readings import StoredReading
from server.db.rejects import IngestReject
from server.ingest.classify import INTERNAL_ERROR, Classified, classify_message, unclassifiable
from server.ingest.events import AnsweredCommand

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


def classify(msg: InboundMessage) -> Classified:
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


# --- every other envelope kind, command results and device status --------------------------------------------------

DOOR = "complex-sharing-space-door"
DISPENSER = "complex-ticket-dispenser"
TERMINAL = "complex-window-1-terminal"


def event_message(device_id: str, name: str, schema: str, data: dict[str, Any], *, seq: int = 12) -> InboundMessage:
    payload = encode_envelope(Envelope(schema, device_id, NOW - timedelta(seconds=1), seq, data))
    return message(payload, f"sc/v1/complex/{device_id}/{name}")


@pytest.mark.parametrize(
    ("device_id", "name", "schema", "data", "kind", "stored_data"),
    [
        (
            DOOR,
            "event/access",
            "access.v1",
            {"card": "12345678", "reads": 41},
            "access",
            '{"card":"12345678","reads":41,"missed":0}',
        ),
        (
            DOOR,
            "event/door",
            "door.v1",
            {"closed": False, "exit_requested": True, "strike_released": None},
            "door",
            '{"closed":false,"exit_requested":true,"strike_released":null}',
        ),
        (
            DISPENSER,
            "event/ticket_request",
            "ticket_request.v1",
            {"service": "party-mass", "button": 2},
            "ticket_request",
            '{"service":"party-mass","button":2}',
        ),
        (
            TERMINAL,
            "event/terminal",
            "terminal.v1",
            {"window": "window-1", "action": "call_next"},
            "terminal",
            '{"window":"window-1","action":"call_next","ticket":null,"to_window":null,"to_service":null}',
        ),
    ],
    ids=["access", "door", "ticket-request", "terminal"],
)
def test_each_event_schema_becomes_an_event_row_of_the_devices_space(
    device_id: str, name: str, schema: str, data: dict[str, Any], kind: str, stored_data: str
) -> None:
    stored = classify(event_message(device_id, name, schema, data))
    assert isinstance(stored, StoredEvent)
    space = BELT.site("complex").device(device_id).space
    assert (stored.device_id, stored.seq, stored.site_id, stored.space_id, stored.kind) == (
        device_id,
        12,
        "complex",
        space,
        kind,
    )
    assert stored.data_json == stored_data
    assert (stored.ts, stored.received_at) == (NOW - timedelta(seconds=1), NOW)


def test_a_command_result_is_an_event_and_the_answer_to_its_command() -> None:
    data = {"command_id": "c0ffee", "action": "unlock", "status": "done", "detail": "", "data": {"held_s": 5}}
    outcome = classify(event_message(DOOR, "cmd/unlock/result", "command_result.v1", data))
    assert isinstance(outcome, AnsweredCommand)
    assert (outcome.event.kind, outcome.event.device_id, outcome.event.seq) == ("command_result", DOOR, 12)
    answer = outcome.answer
    assert (answer.command_id, answer.site_id, answer.device_id, answer.action, answer.status) == (
        "c0ffee",
        "complex",
        DOOR,
        "unlock",
        "done",
    )
    assert (answer.data_json, answer.answered_at) == ('{"held_s":5}', NOW - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("device_id", "name", "schema", "data", "reason", "named"),
    [
        (DOOR, "event/access", "access.v1", {"card": 12345678, "reads": 1}, "schema", "data.card"),
        (DOOR, "event/access", "access.v1", {"card": "1", "reads": -1}, "schema", "data.reads"),
        (
            DOOR,
            "event/door",
            "door.v1",
            {"closed": 1, "exit_requested": False, "strike_released": None},
            "schema",
            "data.closed",
        ),
        (
            DISPENSER,
            "event/ticket_request",
            "ticket_request.v1",
            {"service": "culture", "button": 0},
            "schema",
            "data.button",
        ),
        (TERMINAL, "event/terminal", "terminal.v1", {"window": "window-1", "action": "dance"}, "schema", "data.action"),
        (
            DOOR,
            "cmd/unlock/result",
            "command_result.v1",
            {"command_id": "c1", "action": "unlock", "status": "maybe"},
            "schema",
            "data.status",
        ),
        (
            DOOR,
            "cmd/unlock/result",
            "command_result.v1",
            {"command_id": "c1", "action": "display", "status": "done"},
            "schema",
            "data.action",
        ),
        (DOOR, "event/door", "access.v1", {"card": "1", "reads": 1}, "schema", "does not travel on event/door"),
        (
            DOOR,
            "cmd/unlock/result",
            "door.v1",
            {"closed": True, "exit_requested": False, "strike_released": None},
            "schema",
            "does not travel on cmd/unlock/result",
        ),
        (
            DOOR,
            "event/command_result",
            "command_result.v1",
            {"command_id": "c1", "action": "unlock", "status": "done"},
            "schema",
            "does not travel on event/command_result",
        ),
        (DOOR, "event/alarm", "alarm.v1", {"zone": 1}, "schema", "'alarm.v1' is not one of"),
        (
            DOOR,
            "state/door",
            "door.v1",
            {"closed": True, "exit_requested": False, "strike_released": None},
            "bad_topic",
            "state channel",
        ),
    ],
    ids=[
        "access-card-not-text",
        "access-negative-reads",
        "door-closed-not-bool",
        "ticket-button-zero",
        "terminal-unknown-action",
        "result-unknown-status",
        "result-answers-another-action",
        "access-on-door-topic",
        "door-on-result-topic",
        "result-on-event-topic",
        "unknown-schema",
        "state-channel",
    ],
)
def test_bad_events_are_rejected_naming_the_field_or_the_mismatch(
    device_id: str, name: str, schema: str, data: dict[str, Any], reason: str, named: str
) -> None:
    reject = classify(event_message(device_id, name, schema, data))
    assert isinstance(reject, IngestReject)
    assert reject.reason == reason
    assert named in reject.detail


def status_message(device_id: str, payload: bytes, *, site_id: str = "complex") -> InboundMessage:
    return message(payload, f"sc/v1/{site_id}/{device_id}/status")


def test_a_device_status_becomes_an_update_of_its_health() -> None:
    report = StatusReport("offline", NOW - timedelta(minutes=2), NOW - timedelta(minutes=3), "timeout", NOW)
    update = classify(status_message(DOOR, encode_status(report)))
    assert isinstance(update, StatusUpdate)
    assert (update.site_id, update.device_id, update.state, update.detail) == ("complex", DOOR, "offline", "timeout")
    assert (update.since, update.last_seen, update.reported_at, update.received_at) == (
        NOW - timedelta(minutes=2),
        NOW - timedelta(minutes=3),
        NOW,
        NOW,
    )


def test_the_agents_bare_status_is_known_for_every_site_of_the_file() -> None:
    update = classify(status_message("_agent", b'{"state":"lost"}', site_id="affairs-center"))
    assert isinstance(update, StatusUpdate)
    assert (update.site_id, update.device_id, update.state, update.since, update.reported_at) == (
        "affairs-center",
        "_agent",
        "lost",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("device_id", "site_id", "payload", "reason", "named"),
    [
        ("nobody", "complex", b'{"state":"online"}', "unknown_device", "nobody"),
        (DOOR, "affairs-center", b'{"state":"online"}', "unknown_device", DOOR),
        ("_agent", "nowhere", b'{"state":"online"}', "unknown_device", "nowhere"),
        (DOOR, "complex", b'{"state":"sleepy"}', "schema", "state"),
        (DOOR, "complex", b'{"state":"online","since":"2026-11-27T01:00:00"}', "schema", "since"),
        (DOOR, "complex", b"online", "not_json", ""),
        (DOOR, "complex", b"", "not_json", "empty payload"),
        (
            DOOR,
            "complex",
            b'{"state":"online","reported_at":"2026-11-28T02:00:00Z"}',
            "future_timestamp",
            "reported_at",
        ),
    ],
    ids=[
        "unknown-device",
        "device-of-another-site",
        "agent-of-unknown-site",
        "unknown-state",
        "naive-since",
        "not-json",
        "retained-status-cleared",
        "reported-in-the-future",
    ],
)
def test_bad_status_messages_are_rejected_with_their_reason(
    device_id: str, site_id: str, payload: bytes, reason: str, named: str
) -> None:
    reject = classify(status_message(device_id, payload, site_id=site_id))
    assert isinstance(reject, IngestReject)
    assert reject.reason == reason
    assert named in reject.detail
    assert reject.payload_head == payload
