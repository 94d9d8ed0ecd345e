"""Room panel messages of the release scheduler, sent after the decision is committed.

A release warning is shown on the space's display devices through the command service (devices/commands.py:
``display``). The warning stands whatever becomes of the message: when commands are disabled or the broker does
not take it, that is logged and written into the ``warned`` event's evidence (``"panel": "not sent: ..."``), so the
audit trail says whether the room's panel showed it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from psycopg.types.json import Jsonb

from server.commands import CommandError, CommandService
from server.db.errors import translated_errors
from server.db.release_actions import PanelMessage

log = logging.getLogger(__name__)


def panels_unavailable(commands: CommandService | None) -> str | None:
    """Why display commands cannot be sent now; None when they can."""
    if commands is None:
        return "commands are disabled on this server (SC_COMMANDS_ENABLED)"
    if not commands.broker_connected:
        return "not connected to the broker"
    return None


def send_panel_messages(
    connection: psycopg.Connection, commands: CommandService | None, messages: Sequence[PanelMessage]
) -> None:
    """Send each message and record its outcome in its event (one short transaction per event)."""
    outcomes: dict[int, list[str]] = {}
    for message in messages:
        outcomes.setdefault(message.event_id, []).append(_send(commands, message))
    for event_id, results in outcomes.items():
        with connection.transaction(), translated_errors("recording a panel message's outcome"):
            connection.execute(
                "UPDATE booking_event SET evidence = evidence || jsonb_build_object('panel', %s::jsonb) WHERE id = %s",
                (Jsonb("; ".join(results)), event_id),
            )


def _send(commands: CommandService | None, message: PanelMessage) -> str:
    unavailable = panels_unavailable(commands)
    if commands is None or unavailable is not None:
        log.warning("panel %s: warning not shown: %s", message.device_id, unavailable)
        return f"not sent to {message.device_id}: {unavailable}"
    try:
        record = commands.issue(
            message.site_id, message.device_id, "display", {"text": message.text, "lines": list(message.lines)}
        )
    except CommandError as exc:
        log.warning("panel %s: warning not shown: %s", message.device_id, exc)
        return f"not sent to {message.device_id}: {exc}"
    return f"sent to {message.device_id}: command {record.command_id}"
