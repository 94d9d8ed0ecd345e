"""The window call terminal (``mqtt-window-terminal``): key presses and heartbeats.

The format is documented in :mod:`devices.vendors.queue_devices`; this module parses and encodes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast, get_args

from devices.events import TerminalAction
from devices.vendors.queue_wire import (
    DeviceMessage,
    checked,
    dump,
    flag,
    header,
    header_fields,
    identifier,
    load_message,
    one_of,
    reject,
    ticket,
)

TERMINAL_MODEL = "mqtt-window-terminal"
TERMINAL_KEYS: tuple[str, ...] = get_args(TerminalAction)
# Keys that act on one ticket: the one typed on the keypad, or (none typed) the one now at the window.
TICKET_KEYS = frozenset({"recall", "no_show", "transfer", "done"})


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPress(DeviceMessage):
    """``transfer`` names exactly one of ``to_window`` / ``to_service``; other keys name neither."""

    TYPE: ClassVar[str] = "key"
    key: TerminalAction
    ticket: str | None = None
    to_window: str | None = None
    to_service: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminalHeartbeat(DeviceMessage):
    TYPE: ClassVar[str] = "heartbeat"
    window_open: bool | None  # after the last open/close key; None: not known since power-up


TerminalMessage = KeyPress | TerminalHeartbeat


def parse_terminal_message(payload: bytes) -> TerminalMessage:
    """A message the terminal published on its vendor topic; PayloadRejected says why not."""
    document = load_message(payload)
    kind = one_of(document, "type", ("key", "heartbeat"))
    fields = header(document)
    if kind == "heartbeat":
        return TerminalHeartbeat(**fields, window_open=flag(document, "window_open"))
    key = cast(TerminalAction, one_of(document, "key", TERMINAL_KEYS))
    number = ticket(document, required=False)
    to_window = identifier(document, "to_window", required=False)
    to_service = identifier(document, "to_service", required=False)
    if number is not None and key not in TICKET_KEYS:
        reject("ticket", f"the {key} key acts on no ticket")
    if key == "transfer" and (to_window is None) == (to_service is None):
        reject("to_window", "a transfer names exactly one of to_window and to_service")
    if key != "transfer" and (to_window is not None or to_service is not None):
        reject("to_window" if to_window is not None else "to_service", f"only a transfer has one, not {key}")
    return KeyPress(**fields, key=key, ticket=number, to_window=to_window, to_service=to_service)


def encode_terminal_message(message: TerminalMessage) -> bytes:
    """The message as the terminal publishes it; ValueError for values it could not send."""
    document = header_fields(message, message.TYPE)
    if isinstance(message, KeyPress):
        document["key"] = message.key
        for name in ("ticket", "to_window", "to_service"):
            if getattr(message, name) is not None:  # a key without them leaves them out
                document[name] = getattr(message, name)
    else:
        document["window_open"] = message.window_open
    return checked(dump(document), parse_terminal_message, message)
