"""What a device adapter implements to carry out commands from the server (see :mod:`devices.commands`).

The edge's command router decodes ``cmd/<action>`` messages, answers ``rejected`` or ``expired`` itself, and hands
the rest to the handler of the addressed device, one command at a time per device, on a worker thread: a handler
may block (a Modbus write, waiting for a dispenser's "printed") but must return within ``HANDLER_TIMEOUT_S``.
Whatever it returns (or the timeout, or an exception) becomes the ``command_result.v1`` the server receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from devices.commands import Command
from devices.events import CommandStatus

HANDLER_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    status: CommandStatus  # "done" or "failed" from handlers; the router adds "rejected" and "expired"
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)


class CommandHandler(Protocol):
    @property
    def actions(self) -> frozenset[str]:
        """The actions this device takes (``{"unlock"}``); others are rejected by the router."""
        ...

    def execute(self, command: Command) -> CommandOutcome:
        """Carry out one command whose args are already checked (``command.typed_args()`` succeeds)."""
        ...
