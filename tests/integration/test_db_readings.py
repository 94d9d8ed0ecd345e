"""Occupancy readings against the machine's real PostgreSQL: idempotent batches, live occupancy, history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from server.db.errors import DatabaseError
from server.db.migrate import apply_migrations
from server.db.readings import (
    DeviceLatest,
    OccupancyPoint,
    StoredReading,
    count_readings,
    insert_readings,
    latest_readings,
    occupancy_history,
)

SITE = "jiangning"
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def reading(
    device_id: str,
    seq: int,
    ts: datetime,
    *,
    people: int = 0,
    space_id: str = "hall",
    site_id: str = SITE,
    occupied: bool | None = None,
    regions_json: str = "[]",
) -> StoredReading:
    return StoredReading(
        device_id=device_id,
        seq=seq,
        ts=ts,
        received_at=ts + timedelta(seconds=1),
        site_id=site_id,
        space_id=space_id,
        people=people,
        occupied=people > 0 if occupied is None else occupied,
        regions_json=regions_json,
    )


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    apply_migrations(pg_dsn)
    with psycopg.connect(pg_dsn) as connection:
        yield connection


def store(conn: psycopg.Connection[Any], readings: list[StoredReading]) -> int:
    inserted = insert_readings(conn, readings=readings)
    conn.commit()
    return inserted


def test_duplicates_in_a_batch_and_a_replayed_batch_are_stored_once(conn: psycopg.Connection[Any]) -> None:
    batch = [
        reading("occ-1", 1, T0, people=2),
        reading("occ-1", 1, T0, people=2),  # the broker delivered it twice
        reading("occ-1", 2, T0 + timedelta(minutes=1), people=3),
        reading("occ-2", 1, T0, people=1),
    ]

    assert store(conn, batch) == 3
    assert store(conn, batch) == 0  # replay after a crash before the acknowledgement
    assert count_readings(conn) == 3


def test_a_partly_replayed_batch_counts_only_the_new_rows(conn: psycopg.Connection[Any]) -> None:
    store(conn, [reading("occ-1", seq, T0 + timedelta(minutes=seq)) for seq in range(5)])

    inserted = store(conn, [reading("occ-1", seq, T0 + timedelta(minutes=seq)) for seq in range(3, 8)])

    assert inserted == 3
    assert count_readings(conn, device_id="occ-1") == 8


def test_same_seq_at_another_time_is_a_new_reading(conn: psycopg.Connection[Any]) -> None:
    # A device that rebooted starts counting seq again; its new readings must not be taken for replays.
    store(conn, [reading("occ-1", 1, T0)])

    assert store(conn, [reading("occ-1", 1, T0 + timedelta(hours=2))]) == 1


def test_ten_thousand_readings_in_one_call(conn: psycopg.Connection[Any]) -> None:
    batch = [
        reading(f"occ-{n % 50}", n, T0 + timedelta(seconds=n), people=n % 7, space_id=f"room-{n % 10}")
        for n in range(10_000)
    ]

    assert store(conn, batch) == 10_000
    assert count_readings(conn) == 10_000
    assert count_readings(conn, device_id="occ-7") == 200


def test_insert_leaves_the_commit_to_the_caller(conn: psycopg.Connection[Any], pg_dsn: str) -> None:
    inserted = insert_readings(conn, readings=[reading("occ-1", 1, T0), reading("occ-1", 2, T0)])

    with psycopg.connect(pg_dsn) as other:
        assert count_readings(other) == 0
        conn.commit()
        assert count_readings(other) == inserted == 2


def test_two_batches_in_one_transaction(conn: psycopg.Connection[Any]) -> None:
    first = insert_readings(conn, readings=[reading("occ-1", 1, T0)])
    second = insert_readings(conn, readings=[reading("occ-1", 1, T0), reading("occ-1", 2, T0)])
    conn.commit()

    assert (first, second) == (1, 1)
    assert count_readings(conn) == 2


def test_regions_are_stored_as_a_json_array(conn: psycopg.Connection[Any]) -> None:
    regions = '[{"name":"Region1","count":2,"occupied":true}]'
    store(conn, [reading("occ-1", 1, T0, people=2, regions_json=regions)])

    row = conn.execute("SELECT regions FROM occupancy_reading").fetchone()

    assert row == ([{"name": "Region1", "count": 2, "occupied": True}],)


def test_rolled_back_batch_leaves_nothing_and_the_connection_usable(conn: psycopg.Connection[Any]) -> None:
    insert_readings(conn, readings=[reading("occ-1", 1, T0)])
    conn.rollback()

    assert store(conn, [reading("occ-1", 2, T0)]) == 1
    assert count_readings(conn) == 1


def test_a_row_breaking_a_constraint_fails_the_batch_as_a_database_error(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(DatabaseError, match="insert occupancy readings") as caught:
        insert_readings(conn, readings=[reading("occ-1", 1, T0), reading("occ-1", 2, T0, people=-1)])

    assert isinstance(caught.value.__cause__, psycopg.errors.CheckViolation)
    conn.rollback()
    assert count_readings(conn) == 0


def test_insert_refuses_an_autocommit_connection(pg_dsn: str) -> None:
    apply_migrations(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn, pytest.raises(ValueError, match="autocommit"):
        insert_readings(conn, readings=[reading("occ-1", 1, T0)])


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        reading("occ-1", 1, datetime(2025, 3, 3, 10, 0))


def test_latest_readings_give_the_newest_reading_of_each_device_in_the_spaces_asked(
    conn: psycopg.Connection[Any],
) -> None:
    now = T0 + timedelta(hours=1)
    store(
        conn,
        [
            # hall: two sensors; older readings must not count.
            reading("occ-1", 1, now - timedelta(minutes=5), people=9),
            reading("occ-1", 2, now - timedelta(minutes=1), people=3),
            reading("occ-2", 7, now - timedelta(minutes=10), people=1),
            reading("occ-2", 8, now - timedelta(minutes=2), people=4),
            # library: its only sensor went quiet two hours ago (still its newest reading).
            reading("occ-3", 1, now - timedelta(hours=2), people=5, space_id="library"),
            # another site with a space of the same name.
            reading("occ-9", 1, now - timedelta(minutes=1), people=40, site_id="other-site"),
            # a space of this site that was not asked for.
            reading("occ-4", 1, now - timedelta(minutes=1), people=6, space_id="gym"),
        ],
    )

    latest = latest_readings(conn, site_id=SITE, space_ids=["hall", "library", "reading-room"])

    assert latest == [
        DeviceLatest("hall", "occ-1", now - timedelta(minutes=1), 3, True),
        DeviceLatest("hall", "occ-2", now - timedelta(minutes=2), 4, True),
        DeviceLatest("library", "occ-3", now - timedelta(hours=2), 5, True),
    ]


def test_latest_readings_break_equal_timestamps_by_seq(conn: psycopg.Connection[Any]) -> None:
    store(conn, [reading("occ-1", 1, T0, people=2), reading("occ-1", 2, T0, people=5)])

    (latest,) = latest_readings(conn, site_id=SITE, space_ids=["hall"])

    assert latest.people == 5


def test_latest_readings_of_no_spaces_are_none(conn: psycopg.Connection[Any]) -> None:
    assert latest_readings(conn, site_id=SITE, space_ids=[]) == []


def test_history_buckets_hold_known_aggregates(conn: psycopg.Connection[Any]) -> None:
    start, end = T0, T0 + timedelta(hours=2)
    store(
        conn,
        [
            reading("occ-1", 1, start - timedelta(seconds=1), people=50),  # before the range
            reading("occ-1", 2, start, people=2),  # start is inclusive
            reading("occ-1", 3, start + timedelta(minutes=5), people=4),
            reading("occ-2", 1, start + timedelta(minutes=14, seconds=59), people=3),
            reading("occ-1", 4, start + timedelta(minutes=20), people=6),
            reading("occ-1", 5, start + timedelta(minutes=119), people=1),
            reading("occ-1", 6, end, people=70),  # end is exclusive
            reading("occ-5", 1, start + timedelta(minutes=5), people=30, space_id="library"),
        ],
    )

    quarter_hours = occupancy_history(
        conn, site_id=SITE, space_id="hall", start=start, end=end, bucket=timedelta(minutes=15)
    )
    hours = occupancy_history(conn, site_id=SITE, space_id="hall", start=start, end=end, bucket=timedelta(hours=1))

    assert quarter_hours == [
        OccupancyPoint(bucket=start, avg_people=3.0, max_people=4, readings=3),
        OccupancyPoint(bucket=start + timedelta(minutes=15), avg_people=6.0, max_people=6, readings=1),
        OccupancyPoint(bucket=start + timedelta(minutes=105), avg_people=1.0, max_people=1, readings=1),
    ]
    assert hours == [
        OccupancyPoint(bucket=start, avg_people=3.75, max_people=6, readings=4),
        OccupancyPoint(bucket=start + timedelta(hours=1), avg_people=1.0, max_people=1, readings=1),
    ]


def test_history_buckets_align_to_the_clock_not_to_start(conn: psycopg.Connection[Any]) -> None:
    store(conn, [reading("occ-1", 1, T0 + timedelta(minutes=10), people=2)])

    points = occupancy_history(
        conn,
        site_id=SITE,
        space_id="hall",
        start=T0 + timedelta(minutes=7),
        end=T0 + timedelta(hours=1),
        bucket=timedelta(minutes=15),
    )

    assert [point.bucket for point in points] == [T0]


def test_history_refuses_buckets_under_a_minute(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(ValueError, match="at least"):
        occupancy_history(
            conn, site_id=SITE, space_id="hall", start=T0, end=T0 + timedelta(hours=1), bucket=timedelta(seconds=30)
        )


def test_occupancy_15m_view_gives_the_rollup_per_space(conn: psycopg.Connection[Any]) -> None:
    store(
        conn,
        [
            reading("occ-1", 1, T0 + timedelta(minutes=1), people=1),
            reading("occ-1", 2, T0 + timedelta(minutes=2), people=4),
            reading("occ-1", 3, T0 + timedelta(minutes=16), people=2),
            reading("occ-5", 1, T0 + timedelta(minutes=3), people=8, space_id="library"),
        ],
    )

    rows = conn.execute(
        "SELECT bucket, site_id, space_id, avg_people, max_people, readings FROM occupancy_15m"
        " ORDER BY space_id, bucket"
    ).fetchall()

    assert rows == [
        (T0, SITE, "hall", 2.5, 4, 1 + 1),
        (T0 + timedelta(minutes=15), SITE, "hall", 2.0, 2, 1),
        (T0, SITE, "library", 8.0, 8, 1),
    ]
