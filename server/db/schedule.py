"""The release scheduler's deadlines (``room_schedule``): one row per bookable space.

Pulling a deadline forward also sends a notification on the ``sc_room_schedule`` channel, delivered when the
transaction commits: every replica's scheduler listens to it and looks at the space at once, rather than at the end
of its sleep (server/release/scheduler.py)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from server.db.errors import translated_errors

SCHEDULE_CHANNEL = "sc_room_schedule"


def pull_schedule_forward(connection: psycopg.Connection, *, site_id: str, space_id: str, due_at: datetime) -> None:
    """Make the scheduler look at the space no later than ``due_at`` (in the caller's transaction).

    Call it with ``now`` whenever a booking of the space is created or changed: the scheduler then works out the
    space's next deadline itself."""
    with translated_errors("scheduling a space"):
        connection.execute(
            "INSERT INTO room_schedule (site_id, space_id, due_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (site_id, space_id) DO UPDATE SET due_at = least(room_schedule.due_at, EXCLUDED.due_at)",
            (site_id, space_id, due_at),
        )
        connection.execute("SELECT pg_notify(%s, %s)", (SCHEDULE_CHANNEL, f"{site_id}/{space_id}"))
