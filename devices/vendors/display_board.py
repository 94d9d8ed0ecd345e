"""The queue display board (``mqtt-display-board``): the display state it takes, and what it answers.

The format is documented in :mod:`devices.vendors.queue_devices`; this module parses and encodes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from devices.vendors.queue_wire import (
    DeviceMessage,
    checked,
    command_id,
    dump,
    header,
    header_fields,
    load_message,
    one_of,
    reject,
    text,
)

BOARD_MODEL = "mqtt-display-board"
MAX_TEXT_CHARS = 20  # the headline row: 20 characters, as on the Ditel LED boards (devices.commands)
MAX_LINES = 8
MAX_LINE_CHARS = 40  # each further row of the board's panel


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayShown(DeviceMessage):
    """The board now shows the state of ``command_id``; ``text`` is its headline as shown."""

    TYPE: ClassVar[str] = "shown"
    command_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardHeartbeat(DeviceMessage):
    TYPE: ClassVar[str] = "heartbeat"
    command_id: str | None  # of the state on display; None while blank


BoardMessage = DisplayShown | BoardHeartbeat


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayState:
    """What the board should show; the edge publishes it RETAINED on ``<vendor_topic>/set``."""

    command_id: str
    text: str
    lines: tuple[str, ...] = ()


def parse_board_message(payload: bytes) -> BoardMessage:
    """A message the board published on its vendor topic; PayloadRejected says why not."""
    document = load_message(payload)
    kind = one_of(document, "type", ("shown", "heartbeat"))
    fields = header(document)
    if kind == "shown":
        return DisplayShown(**fields, command_id=command_id(document), text=str(text(document, "text", 200)))
    showing = None if document.get("command_id") is None else command_id(document)
    return BoardHeartbeat(**fields, command_id=showing)


def encode_board_message(message: BoardMessage) -> bytes:
    """The message as the board publishes it; ValueError for values it could not send."""
    document = header_fields(message, message.TYPE)
    if isinstance(message, DisplayShown):
        document |= {"command_id": message.command_id, "text": message.text}
    else:
        document["command_id"] = message.command_id
    return checked(dump(document), parse_board_message, message)


def parse_display_state(payload: bytes) -> DisplayState:
    """A display state received on ``<vendor_topic>/set``; PayloadRejected says why not. (An empty retained
    message is no state: it clears the board, and the caller checks for it before parsing.)"""
    document = load_message(payload)
    if document.get("action") != "display":
        reject("action", "this board takes only 'display'")
    headline = str(text(document, "text", MAX_TEXT_CHARS))
    if not all(" " <= char <= "~" for char in headline):
        reject("text", "the headline row shows printable ASCII only")
    return DisplayState(command_id=command_id(document), text=headline, lines=_lines(document))


def encode_display_state(state: DisplayState) -> bytes:
    """The state as the edge publishes it (retained) on ``<vendor_topic>/set``; ValueError if it could not be."""
    document: dict[str, Any] = {"action": "display", "command_id": state.command_id, "text": state.text}
    if state.lines:
        document["lines"] = list(state.lines)
    return checked(dump(document), parse_display_state, state)


def _lines(document: dict[str, Any]) -> tuple[str, ...]:
    value = document.get("lines")
    if value is None:
        return ()
    if not isinstance(value, list):
        reject("lines", "is not an array")
    if len(value) > MAX_LINES:
        reject("lines", f"{len(value)} lines, the board has {MAX_LINES}")
    return tuple(str(text({f"lines.{i}": line}, f"lines.{i}", MAX_LINE_CHARS)) for i, line in enumerate(value))
