"""Samples of the sites' edge outboxes (devices/outbox_report.py), stored for the "edge outbox depth" panel.

Keyed ``(site_id, ts)``: a sample replayed after an outage, or the retained copy the ingest receives again on each
subscribe, inserts nothing. The queries run unchanged on plain PostgreSQL and on TimescaleDB (a plain table there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import translated_errors


@dataclass(frozen=True, slots=True)
class EdgeOutboxSample:
    """One sample of a site's outbox as received; the values are the wire's, already validated by its decoder."""

    site_id: str
    ts: datetime  # when the agent sampled, by its clock
    received_at: datetime
    depth: int
    oldest_age_s: float | None
    dropped_telemetry: int
    max_rows: int

    def __post_init__(self) -> None:
        for name in ("ts", "received_at"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {getattr(self, name)!r}")


# One statement per batch: columns travel as arrays. DISTINCT ON drops in-batch duplicates (ON CONFLICT cannot
# touch one row twice in a statement), keeping the first received; key order keeps concurrent writers from
# deadlocking, as in readings.py.
_INSERT = """
INSERT INTO edge_outbox_sample (site_id, ts, received_at, depth, oldest_age_s, dropped_telemetry, max_rows)
SELECT DISTINCT ON (site_id, ts) site_id, ts, received_at, depth, oldest_age_s, dropped_telemetry, max_rows
  FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], %s::integer[], %s::double precision[],
              %s::bigint[], %s::integer[]) AS s(site_id, ts, received_at, depth, oldest_age_s, dropped_telemetry,
                                               max_rows)
 ORDER BY site_id, ts, received_at
ON CONFLICT DO NOTHING
"""


def insert_outbox_samples(conn: psycopg.Connection[Any], *, samples: Sequence[EdgeOutboxSample]) -> int:
    """Store a batch in one statement; returns how many rows were new. Does not commit."""
    if not samples:
        return 0
    columns = (
        [s.site_id for s in samples],
        [s.ts for s in samples],
        [s.received_at for s in samples],
        [s.depth for s in samples],
        [s.oldest_age_s for s in samples],
        [s.dropped_telemetry for s in samples],
        [s.max_rows for s in samples],
    )
    with translated_errors("insert edge outbox samples"), conn.cursor() as cur:
        cur.execute(_INSERT, columns)
        return cur.rowcount


def outbox_samples(
    conn: psycopg.Connection[Any], *, site_id: str, since: datetime, until: datetime
) -> list[EdgeOutboxSample]:
    """A site's samples with ``since <= ts < until``, oldest first."""
    for name, value in (("since", since), ("until", until)):
        if value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    query = (
        "SELECT site_id, ts, received_at, depth, oldest_age_s, dropped_telemetry, max_rows FROM edge_outbox_sample"
        " WHERE site_id = %s AND ts >= %s AND ts < %s ORDER BY ts"
    )
    with translated_errors("read edge outbox samples"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(query, (site_id, since, until)).fetchall()
    return [EdgeOutboxSample(*row) for row in rows]
