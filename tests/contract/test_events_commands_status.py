"""Event bodies, commands and device status: what the edge sends is what the server reads, and bad input is
refused by field with PayloadRejected only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.commands import (
    Command,
    DisplayArgs,
    PrintArgs,
    UnlockArgs,
    command_id_of,
    decode_command,
    encode_command,
    new_command,
)
from devices.device_status import StatusReport, decode_status, encode_status
from devices.envelope import Envelope, decode_envelope, encode_envelope
from devices.errors import PayloadRejected, RejectReason
from devices.events import (
    ACCESS_SCHEMA,
    COMMAND_RESULT_SCHEMA,
    DOOR_SCHEMA,
    TERMINAL_SCHEMA,
    TICKET_REQUEST_SCHEMA,
    AccessData,
    CommandResultData,
    TerminalData,
    event_data,
    validate_event,
)

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)

GOOD: list[tuple[str, dict[str, Any]]] = [
    (ACCESS_SCHEMA, {"card": "12345678", "reads": 41, "missed": 0}),
    (ACCESS_SCHEMA, {"card": "0", "reads": 0}),
    (DOOR_SCHEMA, {"closed": True, "exit_requested": False, "strike_released": None}),
    (TICKET_REQUEST_SCHEMA, {"service": "party-mass", "button": 2}),
    (TERMINAL_SCHEMA, {"window": "window-1", "action": "call_next"}),
    (TERMINAL_SCHEMA, {"window": "window-1", "action": "transfer", "ticket": "A017", "to_service": "culture"}),
    (COMMAND_RESULT_SCHEMA, {"command_id": "c0ffee", "action": "unlock", "status": "done"}),
    (COMMAND_RESULT_SCHEMA, {"command_id": "c-1", "action": "print", "status": "failed", "detail": "paper out"}),
]

BAD: list[tuple[str, dict[str, Any], str]] = [
    (ACCESS_SCHEMA, {"card": 12345678, "reads": 1}, "data.card"),
    (ACCESS_SCHEMA, {"card": "12ab", "reads": 1}, "data.card"),
    (ACCESS_SCHEMA, {"card": "1", "reads": -1}, "data.reads"),
    (ACCESS_SCHEMA, {"card": "1", "reads": 1, "who": "x"}, "data.who"),
    (DOOR_SCHEMA, {"closed": 1, "exit_requested": False, "strike_released": None}, "data.closed"),
    (TICKET_REQUEST_SCHEMA, {"service": "Party Mass", "button": 2}, "data.service"),
    (TICKET_REQUEST_SCHEMA, {"service": "culture", "button": 0}, "data.button"),
    (TERMINAL_SCHEMA, {"window": "window-1", "action": "dance"}, "data.action"),
    (TERMINAL_SCHEMA, {"window": "window-1", "action": "recall", "ticket": "a17"}, "data.ticket"),
    (COMMAND_RESULT_SCHEMA, {"command_id": "c 1", "action": "unlock", "status": "done"}, "data.command_id"),
    (COMMAND_RESULT_SCHEMA, {"command_id": "c1", "action": "unlock", "status": "maybe"}, "data.status"),
]


def _envelope(schema: str, data: dict[str, Any]) -> Envelope:
    return Envelope(schema_name=schema, device_id="door-1", ts=NOW, seq=3, data=data)


@pytest.mark.parametrize(("schema", "data"), GOOD, ids=[f"{s}-{i}" for i, (s, _) in enumerate(GOOD)])
def test_documented_event_bodies_survive_the_wire(schema: str, data: dict[str, Any]) -> None:
    received = decode_envelope(encode_envelope(_envelope(schema, data)), now=NOW)
    model = validate_event(received)
    assert {key: value for key, value in event_data(model).items() if key in data} == data


@pytest.mark.parametrize(("schema", "data", "where"), BAD, ids=[f"{s}-{w}-{i}" for i, (s, _, w) in enumerate(BAD)])
def test_bad_event_bodies_are_refused_naming_the_field(schema: str, data: dict[str, Any], where: str) -> None:
    with pytest.raises(PayloadRejected) as caught:
        validate_event(_envelope(schema, data))
    assert caught.value.reason is RejectReason.SCHEMA
    assert caught.value.detail.startswith(where)


def test_an_unknown_schema_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(PayloadRejected, match=r"schema: 'lift\.v1' is not one of occupancy\.v1, access\.v1"):
        validate_event(_envelope("lift.v1", {}))


@settings(max_examples=200, deadline=None)
@given(card=st.from_regex(r"[0-9]{1,20}", fullmatch=True), reads=st.integers(0, 2**32 - 1), missed=st.integers(0, 9))
def test_access_events_round_trip(card: str, reads: int, missed: int) -> None:
    sent = AccessData(card=card, reads=reads, missed=missed)
    received = validate_event(decode_envelope(encode_envelope(_envelope(ACCESS_SCHEMA, event_data(sent))), now=NOW))
    assert received == sent


def test_typed_event_models_are_what_validate_returns() -> None:
    assert isinstance(validate_event(_envelope(TERMINAL_SCHEMA, GOOD[4][1])), TerminalData)
    assert isinstance(validate_event(_envelope(COMMAND_RESULT_SCHEMA, GOOD[6][1])), CommandResultData)


# Commands


@pytest.mark.parametrize(
    ("action", "args", "expected"),
    [
        ("unlock", {}, UnlockArgs(seconds=5)),
        ("unlock", {"seconds": 8}, UnlockArgs(seconds=8)),
        ("display", {"text": "A017 -> 3"}, DisplayArgs(text="A017 -> 3")),
        (
            "print",
            {"ticket": "B002", "service": "party-mass", "issued_at": "2026-11-28T02:00:00Z", "waiting_ahead": 3},
            PrintArgs(ticket="B002", service="party-mass", issued_at="2026-11-28T02:00:00Z", waiting_ahead=3),
        ),
    ],
)
def test_commands_round_trip_with_their_typed_args(action: str, args: dict[str, Any], expected: object) -> None:
    command = new_command("c0ffee01", action, args, now=NOW)
    received = decode_command(encode_command(command), action=action)
    assert received == command
    assert received.typed_args() == expected
    assert received.expires_at == NOW + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("action", "args", "problem"),
    [
        ("unlock", {"seconds": 0}, "args.seconds"),
        ("unlock", {"seconds": 600}, "args.seconds"),
        ("unlock", {"seconds": "5"}, "args.seconds"),
        ("display", {"text": "x" * 21}, "args.text"),
        ("display", {"text": "请到3号窗口"}, "args.text"),
        ("print", {"ticket": "17", "service": "culture", "issued_at": "t", "waiting_ahead": 0}, "args.ticket"),
        ("launch", {}, "action 'launch' is not one of display, print, take, unlock, window"),
    ],
)
def test_commands_with_bad_args_cannot_be_issued(action: str, args: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        new_command("c1", action, args, now=NOW)


def test_a_command_is_expired_from_its_deadline_on() -> None:
    command = new_command("c1", "unlock", {}, now=NOW, ttl=timedelta(seconds=10))
    assert not command.expired(NOW + timedelta(seconds=9.999))
    assert command.expired(NOW + timedelta(seconds=10))


@pytest.mark.parametrize(
    ("payload", "readable_id"),
    [
        (b"not json", None),
        (b'{"command_id": "c1"}', "c1"),
        (
            b'{"command_id": "c1", "issued_at": "2026-11-28T02:00:00", "expires_at": "2026-11-28T02:00:30Z",'
            b' "args": {}}',
            "c1",
        ),
        (
            b'{"command_id": "bad id!", "issued_at": "2026-11-28T02:00:00Z", "expires_at": "2026-11-28T02:00:30Z",'
            b' "args": {}}',
            None,
        ),
        (b"[1, 2]", None),
    ],
)
def test_undecodable_commands_are_refused_and_name_their_id_when_readable(
    payload: bytes, readable_id: str | None
) -> None:
    with pytest.raises(PayloadRejected):
        decode_command(payload, action="unlock")
    assert command_id_of(payload) == readable_id


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_command_or_payload_rejected(payload: bytes) -> None:
    try:
        command = decode_command(payload, action="unlock")
    except PayloadRejected:
        return
    assert isinstance(command, Command)


# Device status


def test_device_status_round_trips() -> None:
    report = StatusReport("stale", NOW, NOW - timedelta(minutes=3), "registers frozen for 3 polls", NOW)
    assert decode_status(encode_status(report)) == report


def test_the_agents_short_status_is_a_status() -> None:
    assert decode_status(b'{"state":"lost"}') == StatusReport("lost", None, None, "", None)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"state":"sleeping"}',
        b'{"since":"2026-11-28T02:00:00Z"}',
        b'{"state":"online","since":"2026-11-28T02:00"}',
        b"online",
        b"",
    ],
)
def test_malformed_status_is_refused(payload: bytes) -> None:
    with pytest.raises(PayloadRejected):
        decode_status(payload)


def test_a_display_command_with_lines_survives_the_wire() -> None:
    command = new_command(
        "d1", "display", {"text": "A017 -> 3", "lines": ["A017  Window 3", "B002  Window 1"]}, now=NOW
    )
    received = decode_command(encode_command(command), action="display")
    assert received.typed_args() == DisplayArgs(text="A017 -> 3", lines=["A017  Window 3", "B002  Window 1"])
