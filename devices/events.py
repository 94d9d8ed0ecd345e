"""The ``data`` of every envelope kind besides occupancy: door access, door state, ticket requests, terminal keys,
and command results. Edge adapters build these from vendor payloads; the server validates them on ingest.

    event/access          access.v1          {"card": "12345678", "reads": 41, "missed": 0}
    event/door            door.v1            {"closed": true, "exit_requested": false, "strike_released": false}
    event/ticket_request  ticket_request.v1  {"service": "party-mass", "button": 2}
    event/terminal        terminal.v1        {"window": "window-1", "action": "call_next", "ticket": null,
                                              "to_window": null, "to_service": null}
    cmd/<action>/result   command_result.v1  {"command_id": "…", "action": "unlock", "status": "done",
                                              "detail": "", "data": {}}
    event/queue           queue.v1           the site queue's events, from the edge agent (devices.queue_contract)

- access: ``card`` is the card number as decimal digits (a Wiegand 26/34-bit or OSDP card id); ``reads`` the
  reader's own event counter; ``missed`` reads the edge could not see (the counter jumped by more than one between
  two polls). Door events are never dropped by the edge outbox.
- door: sent when any input changes; ``strike_released`` is the relay coil (True = unlocked) or null if unknown.
- ticket_request: a resident pressed the dispenser button for ``service`` (button numbers start at 1).
- terminal: staff pressed a key on the window's call terminal. ``ticket`` names the ticket for recall / no_show /
  transfer / done (null = the one now at the window); ``to_window`` or ``to_service`` is where a transfer goes.
- command_result: a device's (or the edge's) answer to a command; see :mod:`devices.commands`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from devices.envelope import Envelope
from devices.errors import PayloadRejected, RejectReason, preview, schema_rejection
from devices.queue_contract import QUEUE_EVENT_NAME, QUEUE_SCHEMA, QueueEventData

ACCESS_SCHEMA = "access.v1"
DOOR_SCHEMA = "door.v1"
TICKET_REQUEST_SCHEMA = "ticket_request.v1"
TERMINAL_SCHEMA = "terminal.v1"
COMMAND_RESULT_SCHEMA = "command_result.v1"

TerminalAction = Literal["open", "close", "call_next", "recall", "no_show", "transfer", "done"]
CommandStatus = Literal["done", "failed", "rejected", "expired"]

_Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
_Ticket = Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9]{1,4}$")]  # prefix letter + number: "A017"


class _Wire(BaseModel):
    # strict: the edge already normalised vendor quirks, so the centre takes no "3" for 3 or 1 for true.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class AccessData(_Wire):
    card: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
    reads: int = Field(ge=0, le=2**32 - 1)
    missed: int = Field(default=0, ge=0, le=2**32 - 1)


class DoorData(_Wire):
    closed: bool
    exit_requested: bool
    strike_released: bool | None


class TicketRequestData(_Wire):
    service: _Id
    button: int = Field(ge=1, le=16)


class TerminalData(_Wire):
    window: _Id
    action: TerminalAction
    ticket: _Ticket | None = None
    to_window: _Id | None = None
    to_service: _Id | None = None


class CommandResultData(_Wire):
    command_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    action: _Id
    status: CommandStatus
    detail: str = Field(default="", max_length=500)
    data: dict[str, Any] = Field(default_factory=dict)


EVENT_MODELS: Mapping[str, type[BaseModel]] = {
    ACCESS_SCHEMA: AccessData,
    DOOR_SCHEMA: DoorData,
    TICKET_REQUEST_SCHEMA: TicketRequestData,
    TERMINAL_SCHEMA: TerminalData,
    COMMAND_RESULT_SCHEMA: CommandResultData,
    QUEUE_SCHEMA: QueueEventData,  # from the site's edge agent itself (devices.queue_contract)
}

# The topic name (after event/ or cmd/) each schema travels on; command results go on "<action>/result".
EVENT_NAME_OF_SCHEMA: Mapping[str, str] = {
    ACCESS_SCHEMA: "access",
    DOOR_SCHEMA: "door",
    TICKET_REQUEST_SCHEMA: "ticket_request",
    TERMINAL_SCHEMA: "terminal",
    QUEUE_SCHEMA: QUEUE_EVENT_NAME,
}


def event_data(model: BaseModel) -> dict[str, Any]:
    """The JSON ``data`` object of an event model."""
    return model.model_dump(mode="json")


def validate_event(envelope: Envelope) -> BaseModel:
    """The typed data of a non-occupancy envelope; PayloadRejected(SCHEMA) naming the field when it is wrong."""
    model = EVENT_MODELS.get(envelope.schema_name)
    if model is None:
        known = ", ".join(sorted(EVENT_MODELS))
        raise PayloadRejected(
            RejectReason.SCHEMA, f"schema: {preview(envelope.schema_name)} is not one of occupancy.v1, {known}"
        )
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise schema_rejection(exc.errors(include_url=False, include_input=False), prefix="data") from None
