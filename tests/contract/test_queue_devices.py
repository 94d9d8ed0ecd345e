"""The MQTT queue devices' vendor format (devices.vendors.queue_devices): the datasheet's payloads read as
documented, sloppy-but-clear ones are forgiven, unclear ones are refused by reason and field, what the encoders
write reads back the same, and no bytes whatever raise anything but PayloadRejected."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import MAX_DETAIL_CHARS, PayloadRejected, RejectReason
from devices.vendors.queue_devices import (
    BOARD_MODEL,
    DISPENSER_MODEL,
    TERMINAL_MODEL,
    BoardHeartbeat,
    ButtonPress,
    DispenserHeartbeat,
    DisplayShown,
    DisplayState,
    KeyPress,
    PrintFailed,
    PrintRequest,
    QueueMessage,
    TerminalHeartbeat,
    TicketPrinted,
    command_topic,
    encode_display_state,
    encode_print_request,
    encode_queue_message,
    parse_display_state,
    parse_print_request,
    parse_queue_message,
)
from devices.vendors.window_terminal import TERMINAL_KEYS

CST = timedelta(hours=8)
AT = datetime(2026, 11, 28, 2, 2, 3, 456_000, tzinfo=UTC)  # 10:02:03.456 in Shanghai
HEAD = '"serial":"TD0100000001","seq":17,"time":"2026-11-28T10:02:03.456+08:00"'


def head(**fields: Any) -> dict[str, Any]:
    return {"serial": "TD0100000001", "seq": 17, "time": AT, "utc_offset": CST} | fields


def doc(kind: str, body: str = "") -> bytes:
    return ("{" + f'"type":"{kind}",{HEAD}' + (f",{body}" if body else "") + "}").encode()


ACCEPTED: list[tuple[str, str, bytes, QueueMessage]] = [
    # The datasheet's examples.
    ("button", DISPENSER_MODEL, doc("button", '"button":2'), ButtonPress(**head(), button=2)),
    (
        "printed",
        DISPENSER_MODEL,
        doc("printed", '"command_id":"c-17","ticket":"A017"'),
        TicketPrinted(**head(), command_id="c-17", ticket="A017"),
    ),
    (
        "print_failed",
        DISPENSER_MODEL,
        doc("print_failed", '"command_id":"c-17","reason":"paper_out"'),
        PrintFailed(**head(), command_id="c-17", reason="paper_out"),
    ),
    (
        "dispenser_heartbeat",
        DISPENSER_MODEL,
        doc("heartbeat", '"paper":"low"'),
        DispenserHeartbeat(**head(), paper="low"),
    ),
    ("call_next", TERMINAL_MODEL, doc("key", '"key":"call_next"'), KeyPress(**head(), key="call_next")),
    (
        "transfer_to_window",
        TERMINAL_MODEL,
        doc("key", '"key":"transfer","ticket":"A017","to_window":"window-2"'),
        KeyPress(**head(), key="transfer", ticket="A017", to_window="window-2"),
    ),
    (
        "transfer_to_service",
        TERMINAL_MODEL,
        doc("key", '"key":"transfer","to_service":"culture"'),
        KeyPress(**head(), key="transfer", to_service="culture"),
    ),
    (
        "recall_typed",
        TERMINAL_MODEL,
        doc("key", '"key":"recall","ticket":"B004"'),
        KeyPress(**head(), key="recall", ticket="B004"),
    ),
    (
        "terminal_heartbeat",
        TERMINAL_MODEL,
        doc("heartbeat", '"window_open":true'),
        TerminalHeartbeat(**head(), window_open=True),
    ),
    (
        "shown",
        BOARD_MODEL,
        doc("shown", '"command_id":"d-9","text":"A017 -> Window 2"'),
        DisplayShown(**head(), command_id="d-9", text="A017 -> Window 2"),
    ),
    (
        "board_heartbeat_blank",
        BOARD_MODEL,
        doc("heartbeat", '"command_id":null'),
        BoardHeartbeat(**head(), command_id=None),
    ),
    # Forgiven sloppiness.
    (
        "keys_and_words_in_any_case",
        DISPENSER_MODEL,
        b'{"Type":" Button ","SERIAL":"TD0100000001","Time":"2026-11-28T10:02:03.456+08:00","Button":2}',
        ButtonPress(**head(seq=None), button=2),
    ),
    (
        "numbers_as_strings_and_floats",
        DISPENSER_MODEL,
        b'{"type":"button","serial":"TD0100000001","seq":"17","time":"2026-11-28T10:02:03.456+08:00","button":2.0}',
        ButtonPress(**head(), button=2),
    ),
    (
        "serial_as_number",
        DISPENSER_MODEL,
        b'{"type":"heartbeat","serial":20260001,"time":"2026-11-28T10:02:03.456+08:00"}',
        DispenserHeartbeat(**head(serial="20260001", seq=None), paper=None),
    ),
    (
        "key_with_dash_and_lower_case_ticket",
        TERMINAL_MODEL,
        doc("key", '"key":"No-Show","ticket":" a017 "'),
        KeyPress(**head(), key="no_show", ticket="A017"),
    ),
    (
        "upper_case_window_id",
        TERMINAL_MODEL,
        doc("key", '"key":"transfer","to_window":"WINDOW-2"'),
        KeyPress(**head(), key="transfer", to_window="window-2"),
    ),
    (
        "time_in_utc_with_space_and_no_fraction",
        TERMINAL_MODEL,
        b'{"type":"key","serial":"TD0100000001","time":"2026-11-28 02:02:03Z","key":"open"}',
        KeyPress(**head(seq=None, time=AT.replace(microsecond=0), utc_offset=timedelta(0)), key="open"),
    ),
    (
        "offset_without_colon_and_nanoseconds",
        TERMINAL_MODEL,
        b'{"type":"key","serial":"TD0100000001","time":"2026-11-28T10:02:03.456789999+0800","key":"done"}',
        KeyPress(**head(seq=None, time=AT.replace(microsecond=456_789)), key="done"),
    ),
    (
        "unknown_keys_and_newer_failure_reason",
        DISPENSER_MODEL,
        doc("print_failed", '"command_id":"c-17","reason":"cutter-blocked","firmware":"1.4.2"'),
        PrintFailed(**head(), command_id="c-17", reason="cutter_blocked"),
    ),
]


@pytest.mark.parametrize(("model", "payload", "expected"), [pytest.param(*c[1:], id=c[0]) for c in ACCEPTED])
def test_device_payload_reads_as_documented(model: str, payload: bytes, expected: QueueMessage) -> None:
    message = parse_queue_message(model, payload)
    assert message == expected
    assert message.time.tzinfo is UTC


REFUSED: list[tuple[str, str, bytes, RejectReason, str]] = [
    ("not_utf8", DISPENSER_MODEL, b"\xff\xfe{}", RejectReason.NOT_JSON, ""),
    ("empty", DISPENSER_MODEL, b"", RejectReason.NOT_JSON, ""),
    ("array", TERMINAL_MODEL, b"[]", RejectReason.NOT_JSON, ""),
    ("nan", DISPENSER_MODEL, doc("heartbeat", '"level":NaN'), RejectReason.NON_FINITE, ""),
    ("oversized", BOARD_MODEL, doc("heartbeat", '"pad":"' + "x" * 4096 + '"'), RejectReason.TOO_LARGE, ""),
    ("duplicate_key", DISPENSER_MODEL, doc("button", '"button":1,"button":2'), RejectReason.SCHEMA, "'button'"),
    ("two_spellings", DISPENSER_MODEL, doc("button", '"button":1,"Button":1'), RejectReason.SCHEMA, "button: "),
    ("unknown_type", DISPENSER_MODEL, doc("self_test"), RejectReason.SCHEMA, "type: "),
    ("terminal_type_at_dispenser", DISPENSER_MODEL, doc("key", '"key":"open"'), RejectReason.SCHEMA, "type: "),
    ("no_type", BOARD_MODEL, ("{" + HEAD + "}").encode(), RejectReason.SCHEMA, "type: "),
    (
        "no_serial",
        DISPENSER_MODEL,
        b'{"type":"heartbeat","time":"2026-11-28T10:00:00+08:00"}',
        RejectReason.SCHEMA,
        "serial: ",
    ),
    (
        "serial_with_blank",
        DISPENSER_MODEL,
        doc("heartbeat").replace(b"TD01", b"TD 01"),
        RejectReason.SCHEMA,
        "serial: ",
    ),
    ("no_time", DISPENSER_MODEL, b'{"type":"heartbeat","serial":"x"}', RejectReason.SCHEMA, "time: "),
    (
        "local_time_without_offset",
        DISPENSER_MODEL,
        doc("heartbeat").replace(b"+08:00", b""),
        RejectReason.SCHEMA,
        "time: ",
    ),
    ("impossible_date", DISPENSER_MODEL, doc("heartbeat").replace(b"11-28", b"02-30"), RejectReason.SCHEMA, "time: "),
    (
        "offset_beyond_14h",
        DISPENSER_MODEL,
        doc("heartbeat").replace(b"+08:00", b"+15:00"),
        RejectReason.SCHEMA,
        "time: ",
    ),
    (
        "epoch_time",
        DISPENSER_MODEL,
        b'{"type":"heartbeat","serial":"x","time":1764295323}',
        RejectReason.SCHEMA,
        "time: ",
    ),
    ("seq_negative", DISPENSER_MODEL, doc("heartbeat").replace(b'"seq":17', b'"seq":-1'), RejectReason.SCHEMA, "seq: "),
    ("button_zero", DISPENSER_MODEL, doc("button", '"button":0'), RejectReason.SCHEMA, "button: "),
    ("button_17", DISPENSER_MODEL, doc("button", '"button":17'), RejectReason.SCHEMA, "button: "),
    ("button_fractional", DISPENSER_MODEL, doc("button", '"button":1.5'), RejectReason.SCHEMA, "button: "),
    ("button_boolean", DISPENSER_MODEL, doc("button", '"button":true'), RejectReason.SCHEMA, "button: "),
    ("button_missing", DISPENSER_MODEL, doc("button"), RejectReason.SCHEMA, "button: "),
    ("paper_unknown", DISPENSER_MODEL, doc("heartbeat", '"paper":"half"'), RejectReason.SCHEMA, "paper: "),
    ("printed_without_ticket", DISPENSER_MODEL, doc("printed", '"command_id":"c-1"'), RejectReason.SCHEMA, "ticket: "),
    (
        "printed_bad_ticket",
        DISPENSER_MODEL,
        doc("printed", '"command_id":"c-1","ticket":"17"'),
        RejectReason.SCHEMA,
        "ticket: ",
    ),
    (
        "command_id_changed",
        DISPENSER_MODEL,
        doc("printed", '"command_id":"c 1","ticket":"A1"'),
        RejectReason.SCHEMA,
        "command_id: ",
    ),
    (
        "failure_without_reason",
        DISPENSER_MODEL,
        doc("print_failed", '"command_id":"c-1"'),
        RejectReason.SCHEMA,
        "reason: ",
    ),
    ("unknown_key", TERMINAL_MODEL, doc("key", '"key":"coffee"'), RejectReason.SCHEMA, "key: "),
    (
        "ticket_on_call_next",
        TERMINAL_MODEL,
        doc("key", '"key":"call_next","ticket":"A1"'),
        RejectReason.SCHEMA,
        "ticket: ",
    ),
    ("transfer_without_target", TERMINAL_MODEL, doc("key", '"key":"transfer"'), RejectReason.SCHEMA, "to_window: "),
    (
        "transfer_with_both_targets",
        TERMINAL_MODEL,
        doc("key", '"key":"transfer","to_window":"window-2","to_service":"culture"'),
        RejectReason.SCHEMA,
        "to_window: ",
    ),
    (
        "target_on_done",
        TERMINAL_MODEL,
        doc("key", '"key":"done","to_service":"culture"'),
        RejectReason.SCHEMA,
        "to_service: ",
    ),
    (
        "window_open_word",
        TERMINAL_MODEL,
        doc("heartbeat", '"window_open":"maybe"'),
        RejectReason.SCHEMA,
        "window_open: ",
    ),
    ("shown_without_text", BOARD_MODEL, doc("shown", '"command_id":"d-1"'), RejectReason.SCHEMA, "text: "),
    (
        "shown_control_chars",
        BOARD_MODEL,
        doc("shown", '"command_id":"d-1","text":"a\\u0007"'),
        RejectReason.SCHEMA,
        "text: ",
    ),
]


@pytest.mark.parametrize(("model", "payload", "reason", "field"), [pytest.param(*c[1:], id=c[0]) for c in REFUSED])
def test_unclear_device_payload_is_refused_naming_reason_and_field(
    model: str, payload: bytes, reason: RejectReason, field: str
) -> None:
    with pytest.raises(PayloadRejected) as caught:
        parse_queue_message(model, payload)
    assert caught.value.reason is reason
    assert caught.value.detail.startswith(field)
    assert 0 < len(caught.value.detail) <= MAX_DETAIL_CHARS


def test_unknown_model_is_refused() -> None:
    with pytest.raises(PayloadRejected, match="not a queue device model"):
        parse_queue_message("milesight-vs121", doc("heartbeat"))


PRINT = PrintRequest(
    command_id="c-17",
    ticket="A017",
    service="party-mass",
    issued_at=datetime(2026, 11, 28, 2, 2, 3, 500_000, tzinfo=UTC),
    waiting_ahead=3,
    estimate="10-20 min",
)
PRINT_WIRE = (
    b'{"action":"print","command_id":"c-17","ticket":"A017","service":"party-mass",'
    b'"issued_at":"2026-11-28T02:02:03.500Z","waiting_ahead":3,"estimate":"10-20 min"}'
)
DISPLAY = DisplayState(command_id="d-9", text="A017 -> Window 2", lines=("A017  Window 2", "B004  窗口 1"))


def test_commands_have_the_documented_layout() -> None:
    assert encode_print_request(PRINT) == PRINT_WIRE
    assert json.loads(encode_display_state(DISPLAY)) == {
        "action": "display",
        "command_id": "d-9",
        "text": "A017 -> Window 2",
        "lines": ["A017  Window 2", "B004  窗口 1"],
    }
    assert "lines" not in json.loads(encode_display_state(DisplayState(command_id="d", text="")))
    assert command_topic("queue/display/DB0100000001") == "queue/display/DB0100000001/set"


REFUSED_COMMANDS: list[tuple[str, Callable[[bytes], object], bytes, str]] = [
    ("print_as_display", parse_display_state, PRINT_WIRE, "action: "),
    ("display_as_print", parse_print_request, encode_display_state(DISPLAY), "action: "),
    ("print_without_offset", parse_print_request, PRINT_WIRE.replace(b".500Z", b".500"), "issued_at: "),
    ("print_bad_ticket", parse_print_request, PRINT_WIRE.replace(b'"A017"', b'"A-17"'), "ticket: "),
    (
        "print_negative_ahead",
        parse_print_request,
        PRINT_WIRE.replace(b'"waiting_ahead":3', b'"waiting_ahead":-3'),
        "waiting_ahead: ",
    ),
    (
        "display_headline_21",
        parse_display_state,
        b'{"action":"display","command_id":"d","text":"' + b"x" * 21 + b'"}',
        "text: ",
    ),
    (
        "display_headline_cjk",
        parse_display_state,
        '{"action":"display","command_id":"d","text":"窗口"}'.encode(),
        "text: ",
    ),
    (
        "display_nine_lines",
        parse_display_state,
        b'{"action":"display","command_id":"d","text":"","lines":' + json.dumps(["a"] * 9).encode() + b"}",
        "lines: ",
    ),
    (
        "display_line_41",
        parse_display_state,
        b'{"action":"display","command_id":"d","text":"","lines":["a","' + b"y" * 41 + b'"]}',
        "lines.1: ",
    ),
]


@pytest.mark.parametrize(("parse", "payload", "field"), [pytest.param(*c[1:], id=c[0]) for c in REFUSED_COMMANDS])
def test_device_refuses_a_command_it_cannot_carry_out(
    parse: Callable[[bytes], object], payload: bytes, field: str
) -> None:
    with pytest.raises(PayloadRejected) as caught:
        parse(payload)
    assert caught.value.reason is RejectReason.SCHEMA
    assert caught.value.detail.startswith(field)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(ButtonPress(**head(), button=17), id="button-17"),
        pytest.param(ButtonPress(**head(serial=" TD01"), button=1), id="serial-with-blank"),
        pytest.param(ButtonPress(**head(seq=2**32), button=1), id="seq-beyond-32-bit"),
        pytest.param(ButtonPress(**head(time=datetime(2026, 11, 28)), button=1), id="naive-time"),
        pytest.param(ButtonPress(**head(utc_offset=timedelta(seconds=30)), button=1), id="offset-seconds"),
        pytest.param(KeyPress(**head(), key="transfer"), id="transfer-without-target"),
        pytest.param(KeyPress(**head(), key="open", ticket="A1"), id="ticket-on-open"),
        pytest.param(TicketPrinted(**head(), command_id="c-1", ticket="a1"), id="lower-case-ticket"),
        pytest.param(PrintFailed(**head(), command_id="c-1", reason="Paper Out"), id="reason-not-a-word"),
    ],
)
def test_encoder_refuses_what_would_not_read_back_the_same(message: QueueMessage) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is free text; the type is the contract
        encode_queue_message(message)


# -- round trips -----------------------------------------------------------------------------------------------

_offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timedelta(minutes=minutes))
_times = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC))
_serials = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
_command_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
_tickets = st.from_regex(r"[A-Z][0-9]{1,4}", fullmatch=True)
_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True)
_words = st.from_regex(r"[a-z0-9_]{1,40}", fullmatch=True)
_headers = st.fixed_dictionaries(
    {"serial": _serials, "time": _times, "utc_offset": _offsets, "seq": st.none() | st.integers(0, 2**32 - 1)}
)
_shown_text = st.text(st.characters(min_codepoint=0x20, exclude_categories=("Cs",)), max_size=200)


def _key_press(header: dict[str, Any], key: str, ticket: str | None, target: tuple[str, str]) -> KeyPress:
    if key == "transfer":
        return KeyPress(**header, key="transfer", ticket=ticket, **{target[0]: target[1]})
    takes_ticket = key in ("recall", "no_show", "done")
    return KeyPress(**header, key=key, ticket=ticket if takes_ticket else None)


_messages = st.one_of(
    st.builds(lambda h, b: ButtonPress(**h, button=b), _headers, st.integers(1, 16)),
    st.builds(lambda h, c, t: TicketPrinted(**h, command_id=c, ticket=t), _headers, _command_ids, _tickets),
    st.builds(lambda h, c, r: PrintFailed(**h, command_id=c, reason=r), _headers, _command_ids, _words),
    st.builds(lambda h, p: DispenserHeartbeat(**h, paper=p), _headers, st.sampled_from([None, "ok", "low", "out"])),
    st.builds(
        _key_press,
        _headers,
        st.sampled_from(TERMINAL_KEYS),
        st.none() | _tickets,
        st.tuples(st.sampled_from(["to_window", "to_service"]), _ids),
    ),
    st.builds(lambda h, o: TerminalHeartbeat(**h, window_open=o), _headers, st.none() | st.booleans()),
    st.builds(lambda h, c, t: DisplayShown(**h, command_id=c, text=t), _headers, _command_ids, _shown_text),
    st.builds(lambda h, c: BoardHeartbeat(**h, command_id=c), _headers, st.none() | _command_ids),
)
MODEL_OF = {
    ButtonPress: DISPENSER_MODEL,
    TicketPrinted: DISPENSER_MODEL,
    PrintFailed: DISPENSER_MODEL,
    DispenserHeartbeat: DISPENSER_MODEL,
    KeyPress: TERMINAL_MODEL,
    TerminalHeartbeat: TERMINAL_MODEL,
    DisplayShown: BOARD_MODEL,
    BoardHeartbeat: BOARD_MODEL,
}


@settings(max_examples=400)
@given(_messages)
def test_every_device_message_reads_back_as_encoded(message: QueueMessage) -> None:
    assert parse_queue_message(MODEL_OF[type(message)], encode_queue_message(message)) == message


@settings(max_examples=200)
@given(
    st.builds(
        PrintRequest,
        command_id=_command_ids,
        ticket=_tickets,
        service=_ids,
        issued_at=_times,
        waiting_ahead=st.integers(0, 100_000),
        estimate=st.none() | st.text(st.characters(min_codepoint=0x20, exclude_categories=("Cs",)), max_size=40),
    ),
    st.builds(
        DisplayState,
        command_id=_command_ids,
        text=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
        lines=st.lists(_shown_text.map(lambda s: s[:40]), max_size=8).map(tuple),
    ),
)
def test_every_command_reads_back_as_encoded(request: PrintRequest, state: DisplayState) -> None:
    assert parse_print_request(encode_print_request(request)) == request
    assert parse_display_state(encode_display_state(state)) == state


PARSERS: list[Callable[[bytes], object]] = [
    *(lambda payload, model=model: parse_queue_message(model, payload) for model in MODEL_OF.values()),
    parse_print_request,
    parse_display_state,
]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_near_miss_keys = st.sampled_from(
    (
        *("type", "serial", "seq", "time", "button", "key", "ticket", "to_window", "to_service", "paper"),
        *("command_id", "text", "lines", "reason", "window_open", "action", "issued_at", "waiting_ahead", "Type"),
    )
)
_near_misses = st.dictionaries(
    _near_miss_keys,
    _json_values | st.sampled_from(["button", "key", "heartbeat", "print", "display", "2026-11-28T10:00:00+08:00"]),
    max_size=10,
).map(lambda document: json.dumps(document).encode())


@settings(max_examples=500)
@given(st.binary(max_size=300) | _near_misses, st.sampled_from(range(len(PARSERS))))
def test_any_bytes_raise_nothing_but_payload_rejected(payload: bytes, which: int) -> None:
    refusal = _refusal(PARSERS[which], payload)
    assert refusal is None or 0 < len(refusal.detail) <= MAX_DETAIL_CHARS


def _refusal(parse: Callable[[bytes], object], payload: bytes) -> PayloadRejected | None:
    """The PayloadRejected a parser raised, or None; any other exception fails the test."""
    try:
        parse(payload)
    except PayloadRejected as exc:
        return exc
    return None
