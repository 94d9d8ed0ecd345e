"""Smart Complex queue devices over MQTT — ticket dispenser, window call terminal, display board: protocol v1.

The datasheet of our own product family (models ``mqtt-ticket-dispenser``, ``mqtt-window-terminal``,
``mqtt-display-board``), written as a vendor would publish it, so that any device that speaks it can replace the
simulator. Parsers and encoders live in :mod:`~devices.vendors.ticket_dispenser`,
:mod:`~devices.vendors.window_terminal` and :mod:`~devices.vendors.display_board` (shared parts in
:mod:`~devices.vendors.queue_wire`); :func:`parse_queue_message` picks one by model.

1. Transport
   MQTT 3.1.1 or 5 to the site broker, QoS 1 both ways, clean session. A device publishes on its *vendor topic*
   (set at installation, e.g. ``queue/dispenser/TD0100000001``) and takes commands on ``<vendor topic>/set``
   (the Zigbee2MQTT convention). Devices publish nothing retained. A payload is one UTF-8 JSON object of at most
   4096 bytes. Every device publishes a ``heartbeat`` right after connecting and then every report interval
   (configured; 30 s as shipped): missing heartbeats are how the site notices a dead device.

2. Every message from a device starts with the same header
       {"type": "button", "serial": "TD0100000001", "seq": 17, "time": "2026-11-28T10:02:03.456+08:00", ...}
   - ``type``: the message kind (below).
   - ``serial``: as on the device's label, 1-64 of ``A-Z a-z 0-9 _ -``.
   - ``seq``: messages published since power-up, 0..2**32-1, wrapping to 0 (a receiver can see a gap). Firmware
     before 1.2 leaves it out.
   - ``time``: when it happened by the device's NTP-synchronised clock: RFC 3339, local time WITH its offset
     (``+08:00`` in China), milliseconds. A device not yet synchronised sends its best guess; receivers compare
     it with their own clock.
   Keys the receiver does not know are ignored: later firmware adds some.

3. Ticket dispenser: one button per service, a thermal printer (about 800 tickets a roll)
   button        {..., "type": "button", "button": 2}
                 A resident pressed button n (1..16, left to right). The dispenser prints NOTHING by itself: the
                 queue system assigns the number and sends a print request.
   printed       {..., "type": "printed", "command_id": "c-17", "ticket": "A017"}
   print_failed  {..., "type": "print_failed", "command_id": "c-17", "reason": "paper_out"}
                 reasons: paper_out, paper_jam, printer_fault, bad_request (the request could not be read).
   heartbeat     {..., "type": "heartbeat", "paper": "ok"}   ok | low (under 50 tickets left) | out
   On /set, never retained (a dispenser back from an outage must not print old tickets):
       {"action": "print", "command_id": "c-17", "ticket": "A017", "service": "party-mass",
        "issued_at": "2026-11-28T02:02:03.500Z", "waiting_ahead": 3, "estimate": "10-20 min"}
   It prints ticket, service, issued_at in its local time, waiting_ahead and estimate (optional), and answers
   ``printed`` or ``print_failed`` with the same command_id within 2 s.

4. Window call terminal: the keypad at a service window; takes no commands
   key           {..., "type": "key", "key": "call_next"}
                 {..., "type": "key", "key": "transfer", "ticket": "A017", "to_window": "window-2"}
                 keys: open, close (the window), call_next, recall, no_show, transfer, done. ``ticket`` is the
                 number typed before recall / no_show / transfer / done (absent: the ticket now at the window);
                 other keys carry none. A transfer carries exactly one of ``to_window`` / ``to_service`` (ids as
                 set in the terminal's menu).
   heartbeat     {..., "type": "heartbeat", "window_open": true}   (null: no open/close key since power-up)

5. Display board
   On /set, RETAINED, so that a board that (re)connects shows the current call at once:
       {"action": "display", "command_id": "d-9", "text": "A017 -> Window 2",
        "lines": ["A017  Window 2", "B004  Window 1"]}
   ``text`` is the headline row, up to 20 printable ASCII characters; ``lines`` up to 8 further rows of up to 40
   characters (the panel's font has CJK). An empty retained message blanks the board.
   shown         {..., "type": "shown", "command_id": "d-9", "text": "A017 -> Window 2"}
                 sent every time the board takes up a state, also the retained one after connecting.
   heartbeat     {..., "type": "heartbeat", "command_id": "d-9"}   (null while blank)

6. Reading them: lenient where field firmware is sloppy, strict where meaning would be lost
   Accepted: keys in any case (``Button``); words in any case, with ``-`` or blanks for ``_`` (``"Call-Next"``);
   numbers as strings or as ``2.0``; a serial sent as a number; ticket numbers in lower case or with blanks; ids in
   upper case; times with ``Z``, a space for ``T``, no fraction or an offset without colon (``+0800``); unknown
   keys; a missing ``seq``, ``paper`` or ``window_open``.
   Refused (:class:`~devices.errors.PayloadRejected`, naming the field): not UTF-8 JSON, not an object, over
   4096 bytes, NaN or Infinity; a key given twice; an unknown type, key or paper state; a button outside 1..16; a
   time missing, without offset or impossible; no serial; a command id not exactly as sent; a transfer naming
   no target or both; a ticket on a key that takes none; a fractional, negative or boolean number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from devices.errors import PayloadRejected, RejectReason, preview
from devices.vendors.display_board import (
    BOARD_MODEL,
    BoardHeartbeat,
    BoardMessage,
    DisplayShown,
    DisplayState,
    encode_board_message,
    encode_display_state,
    parse_board_message,
    parse_display_state,
)
from devices.vendors.queue_wire import MAX_QUEUE_PAYLOAD_BYTES, SET_SUFFIX, DeviceMessage, command_topic
from devices.vendors.ticket_dispenser import (
    DISPENSER_MODEL,
    ButtonPress,
    DispenserHeartbeat,
    DispenserMessage,
    PrintFailed,
    PrintRequest,
    TicketPrinted,
    encode_dispenser_message,
    encode_print_request,
    parse_dispenser_message,
    parse_print_request,
)
from devices.vendors.window_terminal import (
    TERMINAL_MODEL,
    KeyPress,
    TerminalHeartbeat,
    TerminalMessage,
    encode_terminal_message,
    parse_terminal_message,
)

__all__ = [
    "BOARD_MODEL",
    "DISPENSER_MODEL",
    "MAX_QUEUE_PAYLOAD_BYTES",
    "QUEUE_MODELS",
    "SET_SUFFIX",
    "TERMINAL_MODEL",
    "BoardHeartbeat",
    "BoardMessage",
    "ButtonPress",
    "DeviceMessage",
    "DispenserHeartbeat",
    "DispenserMessage",
    "DisplayShown",
    "DisplayState",
    "KeyPress",
    "PrintFailed",
    "PrintRequest",
    "QueueMessage",
    "TerminalHeartbeat",
    "TerminalMessage",
    "TicketPrinted",
    "command_topic",
    "encode_board_message",
    "encode_dispenser_message",
    "encode_display_state",
    "encode_print_request",
    "encode_queue_message",
    "encode_terminal_message",
    "parse_board_message",
    "parse_dispenser_message",
    "parse_display_state",
    "parse_print_request",
    "parse_queue_message",
    "parse_terminal_message",
]

QueueMessage = DispenserMessage | TerminalMessage | BoardMessage

_PARSERS: Mapping[str, Callable[[bytes], QueueMessage]] = {
    DISPENSER_MODEL: parse_dispenser_message,
    TERMINAL_MODEL: parse_terminal_message,
    BOARD_MODEL: parse_board_message,
}
QUEUE_MODELS = frozenset(_PARSERS)


def parse_queue_message(model: str, payload: bytes) -> QueueMessage:
    """A message a queue device of ``model`` published; PayloadRejected says why not."""
    parser = _PARSERS.get(model)
    if parser is None:
        raise PayloadRejected(RejectReason.SCHEMA, f"{preview(model)} is not a queue device model")
    return parser(payload)


def encode_queue_message(message: QueueMessage) -> bytes:
    """The message as its device publishes it; ValueError for values it could not send."""
    if isinstance(message, ButtonPress | TicketPrinted | PrintFailed | DispenserHeartbeat):
        return encode_dispenser_message(message)
    if isinstance(message, KeyPress | TerminalHeartbeat):
        return encode_terminal_message(message)
    return encode_board_message(message)
