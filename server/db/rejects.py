"""Messages the ingest could not store, kept with their reason and the head of their payload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import translated_errors

# Bytes of a payload kept; ingest_reject.payload_head has the same limit as a CHECK.
PAYLOAD_HEAD_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class IngestReject:
    received_at: datetime
    topic: str
    reason: str  # a short stable code, e.g. "bad_envelope", counted by reject_counts
    detail: str  # what was wrong, for a person
    payload_head: bytes  # the first PAYLOAD_HEAD_LIMIT bytes at most; longer heads are cut on insert
    payload_size: int  # the whole payload's size in bytes

    def __post_init__(self) -> None:
        if self.received_at.utcoffset() is None:
            raise ValueError(f"received_at must be timezone-aware, got {self.received_at!r}")


# One statement for the whole batch: columns travel as arrays and unnest() turns them back into rows.
_INSERT = """
INSERT INTO ingest_reject (received_at, topic, reason, detail, payload_head, payload_size)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::bytea[], %s::integer[])
"""


def insert_rejects(conn: psycopg.Connection[Any], *, rejects: Sequence[IngestReject]) -> None:
    """Store a batch of rejects in one statement; does not commit."""
    if not rejects:
        return
    columns = (
        [r.received_at for r in rejects],
        [r.topic for r in rejects],
        [r.reason for r in rejects],
        [r.detail for r in rejects],
        [r.payload_head[:PAYLOAD_HEAD_LIMIT] for r in rejects],
        [r.payload_size for r in rejects],
    )
    with translated_errors("insert ingest rejects"), conn.cursor() as cur:
        cur.execute(_INSERT, columns)


def reject_counts(conn: psycopg.Connection[Any], *, since: datetime) -> dict[str, int]:
    """Rejects received at or after ``since``, counted by reason."""
    if since.utcoffset() is None:
        raise ValueError(f"since must be timezone-aware, got {since!r}")
    query = "SELECT reason, count(*) FROM ingest_reject WHERE received_at >= %s GROUP BY reason ORDER BY reason"
    with translated_errors("count ingest rejects"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(query, (since,)).fetchall()
    return {str(reason): int(count) for reason, count in rows}
