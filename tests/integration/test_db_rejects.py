"""Ingest rejects against the machine's real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from server.db.migrate import apply_migrations
from server.db.rejects import PAYLOAD_HEAD_LIMIT, IngestReject, insert_rejects, reject_counts

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def reject(reason: str, at: datetime, *, payload: bytes = b'{"schema":"x"}') -> IngestReject:
    return IngestReject(
        received_at=at,
        topic="sc/v1/jiangning/occ-1/event/occupancy",
        reason=reason,
        detail=f"{reason} at {at:%H:%M}",
        payload_head=payload,
        payload_size=len(payload),
    )


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    apply_migrations(pg_dsn)
    with psycopg.connect(pg_dsn) as connection:
        yield connection


def test_rejects_round_trip(conn: psycopg.Connection[Any]) -> None:
    stored = [reject("bad_envelope", T0, payload=b"\x00\xffnot json"), reject("unknown_device", T0)]

    insert_rejects(conn, rejects=stored)
    conn.commit()
    rows = conn.execute(
        "SELECT received_at, topic, reason, detail, payload_head, payload_size FROM ingest_reject ORDER BY id"
    ).fetchall()

    assert [IngestReject(*row) for row in rows] == stored


def test_a_long_payload_keeps_its_head_and_its_full_size(conn: psycopg.Connection[Any]) -> None:
    payload = bytes(range(256)) * 20
    insert_rejects(conn, rejects=[reject("too_large", T0, payload=payload)])
    conn.commit()

    row = conn.execute("SELECT payload_head, payload_size FROM ingest_reject").fetchone()

    assert row == (payload[:PAYLOAD_HEAD_LIMIT], 5120)


def test_rejects_are_counted_by_reason_since_a_time(conn: psycopg.Connection[Any]) -> None:
    insert_rejects(
        conn,
        rejects=[
            reject("bad_envelope", T0 - timedelta(hours=1)),  # before the window
            reject("bad_envelope", T0),
            reject("bad_envelope", T0 + timedelta(minutes=5)),
            reject("unknown_device", T0 + timedelta(minutes=6)),
        ],
    )
    conn.commit()

    assert reject_counts(conn, since=T0) == {"bad_envelope": 2, "unknown_device": 1}
    assert reject_counts(conn, since=T0 + timedelta(days=1)) == {}


def test_rejects_are_not_committed_by_the_insert(conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    insert_rejects(conn, rejects=[reject("bad_envelope", T0)])

    with psycopg.connect(pg_dsn) as other:
        assert reject_counts(other, since=T0) == {}
        conn.commit()
        assert reject_counts(other, since=T0) == {"bad_envelope": 1}


def test_an_empty_batch_is_a_no_op(conn: psycopg.Connection[Any]) -> None:
    insert_rejects(conn, rejects=[])

    assert reject_counts(conn, since=T0 - timedelta(days=365)) == {}
