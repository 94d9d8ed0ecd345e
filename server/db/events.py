"""Device events other than occupancy (access, door, ticket requests, terminal keys, command results).

Stored exactly as the edge sent them, keyed ``(device_id, seq, ts)`` like the readings, so a replay inserts nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import translated_errors


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as stored; ``data_json`` is the envelope's already-validated data object, encoded as JSON."""

    device_id: str
    seq: int
    ts: datetime
    received_at: datetime
    site_id: str
    space_id: str
    kind: str  # the schema's name without version: "access", "door", "ticket_request", "terminal", "command_result"
    data_json: str

    def __post_init__(self) -> None:
        for name in ("ts", "received_at"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {getattr(self, name)!r}")


# One statement per batch: columns travel as arrays. DISTINCT ON drops in-batch duplicates (ON CONFLICT cannot
# touch one row twice in a statement), keeping the first received; key order keeps concurrent writers from
# deadlocking, as in readings.py.
_INSERT = """
INSERT INTO device_event (device_id, seq, ts, received_at, site_id, space_id, kind, data)
SELECT DISTINCT ON (device_id, seq, ts) device_id, seq, ts, received_at, site_id, space_id, kind, data::jsonb
  FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[], %s::text[],
              %s::text[]) AS e(device_id, seq, ts, received_at, site_id, space_id, kind, data)
 ORDER BY device_id, seq, ts, received_at
ON CONFLICT DO NOTHING
"""


def insert_events(conn: psycopg.Connection[Any], *, events: Sequence[StoredEvent]) -> int:
    """Store a batch in one statement; returns how many rows were new. Does not commit."""
    if not events:
        return 0
    columns = (
        [e.device_id for e in events],
        [e.seq for e in events],
        [e.ts for e in events],
        [e.received_at for e in events],
        [e.site_id for e in events],
        [e.space_id for e in events],
        [e.kind for e in events],
        [e.data_json for e in events],
    )
    with translated_errors("insert device events"), conn.cursor() as cur:
        cur.execute(_INSERT, columns)
        return cur.rowcount


@dataclass(frozen=True, slots=True)
class EventRow:
    device_id: str
    seq: int
    ts: datetime
    received_at: datetime
    site_id: str
    space_id: str
    kind: str
    data: Mapping[str, Any]


def events_of_site(
    conn: psycopg.Connection[Any], *, site_id: str, kind: str | None = None, limit: int = 100
) -> list[EventRow]:
    """The newest events of a site (of one kind, or all), newest first."""
    if not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be in 1..10000, got {limit}")
    query = (
        "SELECT device_id, seq, ts, received_at, site_id, space_id, kind, data FROM device_event"
        " WHERE site_id = %(site_id)s AND (%(kind)s::text IS NULL OR kind = %(kind)s)"
        " ORDER BY ts DESC, device_id, seq DESC LIMIT %(limit)s"
    )
    with translated_errors("read device events"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(query, {"site_id": site_id, "kind": kind, "limit": limit}).fetchall()
    return [EventRow(*row) for row in rows]
