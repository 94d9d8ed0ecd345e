"""The ticket dispenser (``mqtt-ticket-dispenser``): its messages and the print request it takes.

The format is documented in :mod:`devices.vendors.queue_devices`; this module parses and encodes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Literal, cast

from devices.errors import PayloadRejected
from devices.vendors.queue_wire import (
    DeviceMessage,
    checked,
    command_id,
    dump,
    format_time,
    header,
    header_fields,
    identifier,
    load_message,
    one_of,
    parse_time,
    reject,
    text,
    ticket,
    whole_number,
    word,
)

DISPENSER_MODEL = "mqtt-ticket-dispenser"
MAX_BUTTONS = 16  # the largest front panel of the family
PAPER_STATES = ("ok", "low", "out")
PaperState = Literal["ok", "low", "out"]
# Reasons the firmware gives for a failed print; a newer firmware may add others, which are passed on as they are.
PRINT_FAILURES = ("paper_out", "paper_jam", "printer_fault", "bad_request")


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonPress(DeviceMessage):
    TYPE: ClassVar[str] = "button"
    button: int  # 1..MAX_BUTTONS, counted from the left of the panel


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketPrinted(DeviceMessage):
    TYPE: ClassVar[str] = "printed"
    command_id: str
    ticket: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintFailed(DeviceMessage):
    TYPE: ClassVar[str] = "print_failed"
    command_id: str
    reason: str  # one of PRINT_FAILURES, or a newer firmware's word


@dataclass(frozen=True, slots=True, kw_only=True)
class DispenserHeartbeat(DeviceMessage):
    TYPE: ClassVar[str] = "heartbeat"
    paper: PaperState | None  # None: firmware without a paper sensor


DispenserMessage = ButtonPress | TicketPrinted | PrintFailed | DispenserHeartbeat
_TYPES = ("button", "printed", "print_failed", "heartbeat")


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintRequest:
    """What the edge tells a dispenser to print (devices.commands ``print`` args plus the command id)."""

    command_id: str
    ticket: str
    service: str
    issued_at: datetime  # aware UTC; the ticket shows it in the dispenser's local time
    waiting_ahead: int
    estimate: str | None = None


def parse_dispenser_message(payload: bytes) -> DispenserMessage:
    """A message the dispenser published on its vendor topic; PayloadRejected says why not."""
    document = load_message(payload)
    kind = one_of(document, "type", _TYPES)
    fields = header(document)
    if kind == "button":
        return ButtonPress(**fields, button=whole_number(document, "button", 1, MAX_BUTTONS))
    if kind == "printed":
        return TicketPrinted(**fields, command_id=command_id(document), ticket=str(ticket(document)))
    if kind == "print_failed":
        return PrintFailed(**fields, command_id=command_id(document), reason=str(word(document, "reason")))
    paper = cast(PaperState | None, one_of(document, "paper", PAPER_STATES, required=False))
    return DispenserHeartbeat(**fields, paper=paper)


def encode_dispenser_message(message: DispenserMessage) -> bytes:
    """The message as the dispenser publishes it; ValueError for values it could not send."""
    document = header_fields(message, message.TYPE)
    if isinstance(message, ButtonPress):
        document["button"] = message.button
    elif isinstance(message, TicketPrinted):
        document |= {"command_id": message.command_id, "ticket": message.ticket}
    elif isinstance(message, PrintFailed):
        document |= {"command_id": message.command_id, "reason": message.reason}
    else:
        document["paper"] = message.paper
    return checked(dump(document), parse_dispenser_message, message)


def parse_print_request(payload: bytes) -> PrintRequest:
    """A print request received on ``<vendor_topic>/set``; PayloadRejected says why not."""
    document = load_message(payload)
    if document.get("action") != "print":
        reject("action", "this dispenser takes only 'print'")
    issued_at, _offset = parse_time("issued_at", document.get("issued_at"))
    return PrintRequest(
        command_id=command_id(document),
        ticket=str(ticket(document)),
        service=str(identifier(document, "service")),
        issued_at=issued_at,
        waiting_ahead=whole_number(document, "waiting_ahead", 0, 100_000),
        estimate=text(document, "estimate", 40, required=False),
    )


def encode_print_request(request: PrintRequest) -> bytes:
    """The request as the edge publishes it on ``<vendor_topic>/set``; ValueError for values it could not send."""
    document = {
        "action": "print",
        "command_id": request.command_id,
        "ticket": request.ticket,
        "service": request.service,
        "issued_at": format_time(request.issued_at, timedelta(0)).replace("+00:00", "Z"),
        "waiting_ahead": request.waiting_ahead,
    }
    if request.estimate is not None:
        document["estimate"] = request.estimate
    return checked(dump(document), parse_print_request, request)


def print_request_id(payload: bytes) -> str | None:
    """The command id of a print request that failed to parse, when it can be read (so the answer can name it)."""
    try:
        return command_id(load_message(payload))
    except PayloadRejected:
        return None
