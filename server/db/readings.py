"""Occupancy readings: the ingest's idempotent batched insert, live occupancy per space, and history buckets.

The queries run unchanged on plain PostgreSQL and on TimescaleDB (where ``occupancy_reading`` is a hypertable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import translated_errors

MIN_HISTORY_BUCKET = timedelta(minutes=1)


def _require_aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


@dataclass(frozen=True, slots=True)
class StoredReading:
    """One occupancy reading as stored; ``regions_json`` is an already-encoded JSON array."""

    device_id: str
    seq: int
    ts: datetime
    received_at: datetime
    site_id: str
    space_id: str
    people: int
    occupied: bool
    regions_json: str

    def __post_init__(self) -> None:
        _require_aware("ts", self.ts)
        _require_aware("received_at", self.received_at)


# A session-local staging table, created once per connection and emptied at every commit. COPY cannot skip
# conflicting keys, so rows are copied here and moved into occupancy_reading with ON CONFLICT DO NOTHING.
# regions stays text here: a binary COPY of str into jsonb would encode it a second time.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS occupancy_reading_staging (
    device_id text, seq bigint, ts timestamptz, received_at timestamptz, site_id text, space_id text,
    people integer, occupied boolean, regions text
) ON COMMIT DELETE ROWS
"""
_STAGING_COPY = """
COPY occupancy_reading_staging (device_id, seq, ts, received_at, site_id, space_id, people, occupied, regions)
FROM STDIN (FORMAT BINARY)
"""
_STAGING_TYPES = ["text", "int8", "timestamptz", "timestamptz", "text", "text", "int4", "bool", "text"]
# DISTINCT ON drops duplicates inside the batch (ON CONFLICT cannot touch one row twice in a statement), keeping
# the first received. Inserting in key order means two concurrent batches wait on each other's keys in the same
# order and cannot deadlock.
_STAGING_MOVE = """
INSERT INTO occupancy_reading (device_id, seq, ts, received_at, site_id, space_id, people, occupied, regions)
SELECT DISTINCT ON (device_id, seq, ts)
       device_id, seq, ts, received_at, site_id, space_id, people, occupied, regions::jsonb
  FROM occupancy_reading_staging
 ORDER BY device_id, seq, ts, received_at
ON CONFLICT DO NOTHING
"""
_STAGING_EMPTY = "DELETE FROM occupancy_reading_staging"


def insert_readings(conn: psycopg.Connection[Any], *, readings: Sequence[StoredReading]) -> int:
    """Store a batch; returns how many rows were new (replays and in-batch duplicates are not counted).

    Does not commit: the caller commits, then acknowledges the messages. One bad row (invalid regions JSON, a
    negative count) fails the whole batch, so the caller validates first.
    """
    if not readings:
        return 0
    if conn.autocommit:
        # The staging table empties at every commit, which in autocommit is after each statement.
        raise ValueError("insert_readings needs a connection in transaction mode (autocommit=False)")
    with translated_errors("insert occupancy readings"), conn.cursor() as cur:
        cur.execute(_STAGING)
        with cur.copy(_STAGING_COPY) as copy:
            copy.set_types(_STAGING_TYPES)
            for r in readings:
                copy.write_row(
                    (
                        r.device_id,
                        r.seq,
                        r.ts,
                        r.received_at,
                        r.site_id,
                        r.space_id,
                        r.people,
                        r.occupied,
                        r.regions_json,
                    )
                )
        cur.execute(_STAGING_MOVE)
        inserted = cur.rowcount
        cur.execute(_STAGING_EMPTY)  # for a second batch in the same transaction
    return inserted


@dataclass(frozen=True, slots=True)
class DeviceLatest:
    """The newest stored reading of one device in one space; whether it is fresh is for the domain to say."""

    space_id: str
    device_id: str
    ts: datetime
    people: int
    occupied: bool


# PostgreSQL 15 has no skip scan, so a plain DISTINCT ON (device_id) would read a space's whole history. The
# recursive part walks each space's distinct devices instead, one probe of the (site, space, device, ts) index
# per device; the final LATERAL takes each device's newest row with one more probe.
_LATEST = """
WITH RECURSIVE space_device AS (
    SELECT s.space_id, first_device.device_id
      FROM unnest(%(space_ids)s::text[]) AS s (space_id)
     CROSS JOIN LATERAL (
           SELECT r.device_id
             FROM occupancy_reading AS r
            WHERE r.site_id = %(site_id)s AND r.space_id = s.space_id
            ORDER BY r.device_id
            LIMIT 1
           ) AS first_device
    UNION ALL
    SELECT d.space_id, next_device.device_id
      FROM space_device AS d
     CROSS JOIN LATERAL (
           SELECT r.device_id
             FROM occupancy_reading AS r
            WHERE r.site_id = %(site_id)s AND r.space_id = d.space_id AND r.device_id > d.device_id
            ORDER BY r.device_id
            LIMIT 1
           ) AS next_device
)
SELECT d.space_id, d.device_id, newest.ts, newest.people, newest.occupied
  FROM space_device AS d
 CROSS JOIN LATERAL (
       SELECT r.ts, r.people, r.occupied
         FROM occupancy_reading AS r
        WHERE r.site_id = %(site_id)s AND r.space_id = d.space_id AND r.device_id = d.device_id
        ORDER BY r.ts DESC, r.seq DESC
        LIMIT 1
       ) AS newest
 ORDER BY d.space_id, d.device_id
"""


def latest_readings(conn: psycopg.Connection[Any], *, site_id: str, space_ids: Sequence[str]) -> list[DeviceLatest]:
    """The newest reading of every device that ever reported in the given spaces of a site, in one query."""
    requested = list(dict.fromkeys(space_ids))
    if not requested:
        return []
    with translated_errors("read latest occupancy"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(_LATEST, {"site_id": site_id, "space_ids": requested}).fetchall()
    return [
        DeviceLatest(space_id=space_id, device_id=device_id, ts=ts, people=int(people), occupied=bool(occupied))
        for space_id, device_id, ts, people, occupied in rows
    ]


@dataclass(frozen=True, slots=True)
class OccupancyPoint:
    """One history bucket of a space; the aggregates are over readings (see occupancy_15m)."""

    bucket: datetime  # bucket start
    avg_people: float
    max_people: int
    readings: int


# Buckets align to 2000-01-03 00:00 UTC, time_bucket's default origin, like occupancy_15m in both worlds.
# date_bin rather than time_bucket so that the query is the same with or without TimescaleDB.
_HISTORY = """
SELECT date_bin(%(bucket)s, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       avg(people::double precision),
       max(people),
       count(*)
  FROM occupancy_reading
 WHERE site_id = %(site_id)s AND space_id = %(space_id)s AND ts >= %(start)s AND ts < %(end)s
 GROUP BY 1
 ORDER BY 1
"""


def occupancy_history(
    conn: psycopg.Connection[Any],
    *,
    site_id: str,
    space_id: str,
    start: datetime,
    end: datetime,
    bucket: timedelta,
) -> list[OccupancyPoint]:
    """Buckets of ``bucket`` width holding readings with start <= ts < end, oldest first; empty buckets are absent.

    The first bucket may begin before ``start`` when ``start`` is not on a bucket boundary; it then holds only
    the readings from ``start`` on.
    """
    _require_aware("start", start)
    _require_aware("end", end)
    if bucket < MIN_HISTORY_BUCKET:
        raise ValueError(f"bucket must be at least {MIN_HISTORY_BUCKET}, got {bucket}")
    params = {"bucket": bucket, "site_id": site_id, "space_id": space_id, "start": start, "end": end}
    with translated_errors("read occupancy history"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(_HISTORY, params).fetchall()
    return [
        OccupancyPoint(bucket=row[0], avg_people=float(row[1]), max_people=int(row[2]), readings=int(row[3]))
        for row in rows
    ]


def count_readings(conn: psycopg.Connection[Any], *, device_id: str | None = None) -> int:
    """Stored readings in total, or of one device."""
    with translated_errors("count occupancy readings"), conn.cursor(row_factory=tuple_row) as cur:
        if device_id is None:
            row = cur.execute("SELECT count(*) FROM occupancy_reading").fetchone()
        else:
            row = cur.execute("SELECT count(*) FROM occupancy_reading WHERE device_id = %s", (device_id,)).fetchone()
    return int(row[0]) if row else 0
