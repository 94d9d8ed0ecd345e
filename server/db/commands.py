"""Commands the server issued to devices, and the answers the edge sent back (``device_command``).

A command is ``sent`` until its answer arrives through the ingest (``done``, ``failed``, ``rejected``, ``expired``),
or becomes ``unanswered`` once it is past ``expires_at`` plus a grace for the answer to travel. A late answer still
replaces ``unanswered``: it is what happened at the device.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from devices.commands import Command
from server.db.errors import translated_errors

CommandState = Literal["sent", "done", "failed", "rejected", "expired", "unanswered"]
# States an answer may still replace.
OPEN_STATES = ("sent", "unanswered")


@dataclass(frozen=True, slots=True)
class CommandRecord:
    command_id: str
    site_id: str
    device_id: str
    action: str
    args: Mapping[str, Any]
    issued_at: datetime
    expires_at: datetime
    status: CommandState
    detail: str
    result_data: Mapping[str, Any] | None
    answered_at: datetime | None

    @property
    def answered(self) -> bool:
        return self.status not in OPEN_STATES


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    """A ``command_result.v1`` as the ingest received it from ``device_id``'s ``cmd/<action>/result`` topic."""

    command_id: str
    site_id: str
    device_id: str
    action: str
    status: str  # done | failed | rejected | expired
    detail: str
    data_json: str  # the result's data object, encoded as JSON
    answered_at: datetime  # the envelope's ts


class AnswerOutcome(enum.StrEnum):
    RECORDED = "recorded"
    ALREADY_ANSWERED = "already_answered"  # a replay of an answer already stored, or a second answer
    UNKNOWN_COMMAND = "unknown_command"  # no command with that id
    OTHER_TARGET = "other_target"  # the id is of a command to another device or action


def insert_command(conn: psycopg.Connection[Any], *, site_id: str, device_id: str, command: Command) -> None:
    """Record a command as ``sent``; does not commit (commit before publishing it, so its answer finds the row)."""
    query = (
        "INSERT INTO device_command (command_id, site_id, device_id, action, args, issued_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    params = (
        command.command_id,
        site_id,
        device_id,
        command.action,
        Jsonb(dict(command.args)),
        command.issued_at,
        command.expires_at,
    )
    with translated_errors("insert command"), conn.cursor() as cur:
        cur.execute(query, params)


_COLUMNS = (
    "command_id, site_id, device_id, action, args, issued_at, expires_at, status, detail, result_data, answered_at"
)


def get_command(conn: psycopg.Connection[Any], *, command_id: str) -> CommandRecord | None:
    with translated_errors("read command"), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM device_command WHERE command_id = %s", (command_id,)).fetchone()
    return None if row is None else CommandRecord(*row)


def mark_unanswered(
    conn: psycopg.Connection[Any], *, now: datetime, grace: timedelta, command_id: str | None = None
) -> int:
    """Mark ``sent`` commands (one, or all) past ``expires_at + grace`` at ``now`` as ``unanswered``; returns how
    many. Does not commit."""
    if now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    query = (
        "UPDATE device_command SET status = 'unanswered'"
        " WHERE status = 'sent' AND expires_at + %(grace)s <= %(now)s"
        " AND (%(command_id)s::text IS NULL OR command_id = %(command_id)s)"
    )
    with translated_errors("mark unanswered commands"), conn.cursor() as cur:
        cur.execute(query, {"grace": grace, "now": now, "command_id": command_id})
        return cur.rowcount


def record_answer(conn: psycopg.Connection[Any], *, answer: CommandAnswer) -> AnswerOutcome:
    """Store an answer on its command when that command is still open; does not commit.

    Only an answer from the device the command went to, for the same action, counts: another device cannot
    answer for it.
    """
    select = "SELECT site_id, device_id, action, status FROM device_command WHERE command_id = %s FOR UPDATE"
    update = (
        "UPDATE device_command SET status = %s, detail = %s, result_data = %s::jsonb, answered_at = %s"
        " WHERE command_id = %s"
    )
    with translated_errors("record command answer"), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(select, (answer.command_id,)).fetchone()
        if row is None:
            return AnswerOutcome.UNKNOWN_COMMAND
        site_id, device_id, action, status = row
        if (site_id, device_id, action) != (answer.site_id, answer.device_id, answer.action):
            return AnswerOutcome.OTHER_TARGET
        if status not in OPEN_STATES:
            return AnswerOutcome.ALREADY_ANSWERED
        cur.execute(update, (answer.status, answer.detail, answer.data_json, answer.answered_at, answer.command_id))
    return AnswerOutcome.RECORDED
