"""The audit trail (``booking_event``): every change to a booking and every decision of the release policy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

from server.db.errors import translated_errors


def record_event(
    connection: psycopg.Connection,
    *,
    at: datetime,
    site_id: str,
    space_id: str,
    kind: str,
    booking_id: int | None = None,
    actor_id: int | None = None,
    on_behalf_of: int | None = None,
    mode: Literal["enforce", "shadow"] = "enforce",
    detail: str = "",
    evidence: Mapping[str, Any] | None = None,
) -> int:
    """Store one event in the caller's transaction; its id. ``actor_id`` None: the system (the scheduler).
    ``on_behalf_of``: the booking's owner when a member of staff or an administrator acted for them."""
    with translated_errors("recording a booking event"):
        cursor = connection.execute(
            "INSERT INTO booking_event (at, site_id, space_id, booking_id, kind, actor_id, on_behalf_of, mode, detail,"
            " evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                at,
                site_id,
                space_id,
                booking_id,
                kind,
                actor_id,
                on_behalf_of,
                mode,
                detail,
                Jsonb(dict(evidence or {})),
            ),
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])
