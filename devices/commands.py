"""Commands from the server to a device, through the site's edge agent, and what each must carry.

The server publishes on ``<root>/v1/<site>/<device_id>/cmd/<action>`` (QoS 1, never retained):

    {"command_id": "01J…", "issued_at": "2026-11-28T02:00:00.000Z", "expires_at": "2026-11-28T02:00:30.000Z",
     "args": {"seconds": 5}}

and the edge answers every command exactly once with a ``command_result.v1`` envelope on ``cmd/<action>/result``
(:mod:`devices.events`): ``done``, ``failed`` (the device did not do it), ``rejected`` (bad command, unknown action,
wrong device) or ``expired`` (it reached the edge after ``expires_at``: a door is never unlocked late).

Actions and their args:
- ``unlock`` (door controllers): ``seconds`` 1..60 the strike stays released (default 5).
- ``display`` (LED and MQTT display boards): ``text`` up to 20 characters of printable ASCII (what a Ditel board
  shows), optional ``lines`` (up to 8 strings of up to 40 characters, for boards with several lines; the MQTT board).
- ``print`` (ticket dispensers): ``ticket`` ("A017"), ``service`` id, ``issued_at`` RFC 3339, ``waiting_ahead`` >= 0,
  optional ``estimate`` text ("10-20 min").
- ``take`` and ``window`` (the site's edge agent, device id ``_agent``): the site queue; see
  :mod:`devices.queue_contract`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from devices.envelope import load_json_object
from devices.errors import PayloadRejected, RejectReason, preview, schema_rejection
from devices.queue_contract import TAKE_ACTION, WINDOW_ACTION, TakeArgs, WindowArgs
from devices.timestamps import utc_text

MAX_COMMAND_BYTES = 8 * 1024
DEFAULT_COMMAND_TTL = timedelta(seconds=30)
_COMMAND_ID = r"^[A-Za-z0-9_-]{1,64}$"


class _Args(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class UnlockArgs(_Args):
    seconds: int = Field(default=5, ge=1, le=60)


_Printable = Annotated[str, StringConstraints(pattern=r"^[\x20-\x7e]*$")]


class DisplayArgs(_Args):
    text: Annotated[_Printable, StringConstraints(max_length=20)]
    lines: list[Annotated[str, StringConstraints(max_length=40)]] = Field(default_factory=list, max_length=8)


class PrintArgs(_Args):
    ticket: Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9]{1,4}$")]
    service: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    issued_at: str
    waiting_ahead: int = Field(ge=0, le=100_000)
    estimate: Annotated[str, StringConstraints(max_length=40)] | None = None


ARGS_OF_ACTION: Mapping[str, type[BaseModel]] = {
    "unlock": UnlockArgs,
    "display": DisplayArgs,
    "print": PrintArgs,
    TAKE_ACTION: TakeArgs,  # to the site's edge agent (_agent): devices.queue_contract
    WINDOW_ACTION: WindowArgs,
}


@dataclass(frozen=True, slots=True)
class Command:
    command_id: str
    action: str
    issued_at: datetime  # aware UTC
    expires_at: datetime  # aware UTC
    args: Mapping[str, Any] = field(hash=False)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def typed_args(self) -> BaseModel:
        """The args checked against the action; PayloadRejected(SCHEMA) naming the field when wrong."""
        model = ARGS_OF_ACTION.get(self.action)
        if model is None:
            raise PayloadRejected(RejectReason.SCHEMA, f"action {preview(self.action)} is not one of {_actions()}")
        try:
            return model.model_validate(dict(self.args))
        except ValidationError as exc:
            raise schema_rejection(exc.errors(include_url=False, include_input=False), prefix="args") from None


def _actions() -> str:
    return ", ".join(sorted(ARGS_OF_ACTION))


def new_command(
    command_id: str, action: str, args: Mapping[str, Any], *, now: datetime, ttl: timedelta = DEFAULT_COMMAND_TTL
) -> Command:
    """A command issued ``now``; ValueError (from the PayloadRejected) for an unknown action or bad args."""
    command = Command(command_id, action, now.astimezone(UTC), (now + ttl).astimezone(UTC), dict(args))
    try:
        command.typed_args()
    except PayloadRejected as exc:
        raise ValueError(exc.detail) from None
    return command


def encode_command(command: Command) -> bytes:
    document = {
        "command_id": command.command_id,
        "issued_at": utc_text(command.issued_at),
        "expires_at": utc_text(command.expires_at),
        "args": dict(command.args),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class _CommandWire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command_id: Annotated[str, StringConstraints(pattern=_COMMAND_ID)]
    issued_at: datetime
    expires_at: datetime
    args: dict[str, Any]


def decode_command(payload: bytes, *, action: str) -> Command:
    """A command received on ``cmd/<action>``; PayloadRejected for anything malformed (args are checked later,
    by :meth:`Command.typed_args`, so that a command with bad args can still be answered with its id)."""
    document = load_json_object(payload, max_bytes=MAX_COMMAND_BYTES, reject_duplicate_keys=True)
    try:
        wire = _CommandWire.model_validate(document)
    except ValidationError as exc:
        raise schema_rejection(exc.errors(include_url=False, include_input=False), whole="(command)") from None
    for name in ("issued_at", "expires_at"):
        if getattr(wire, name).utcoffset() is None:
            raise PayloadRejected(RejectReason.SCHEMA, f"{name}: has no UTC offset")
    return Command(wire.command_id, action, wire.issued_at.astimezone(UTC), wire.expires_at.astimezone(UTC), wire.args)


def command_id_of(payload: bytes) -> str | None:
    """The command id of a payload that failed to decode, when it can be read at all (so a rejection can name it)."""
    try:
        document = json.loads(payload[:MAX_COMMAND_BYTES])
    except (ValueError, UnicodeDecodeError):
        return None
    value = document.get("command_id") if isinstance(document, dict) else None
    if isinstance(value, str) and re.fullmatch(_COMMAND_ID, value):
        return value
    return None
