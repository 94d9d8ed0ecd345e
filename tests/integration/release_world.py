"""A small world for the release scheduler's tests: a clock the test moves, accounts, bookings, waitlist entries
and sensor readings written straight into a real PostgreSQL (the bookings API is tested on its own)."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import psycopg

from devices.site import Belt
from server.db.accounts import create_account, issue_token
from server.db.schedule import pull_schedule_forward
from server.domain.accounts import Role

# 10:00 in Shanghai on a Friday: the start of the bookings under test.
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SITE = "complex"
SPACE = "sharing-space"
SENSOR = "complex-sharing-space-occupancy"
DOOR = "complex-sharing-space-door"
PANEL = "complex-sharing-space-panel"


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class ManualClock:
    """The server's clock, moved by the test. Device wall times are the same instants (speed 1, no offset)."""

    ready = True

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._now = start

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = at

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def from_wall(self, wall: datetime) -> datetime:
        return wall

    def to_wall(self, at: datetime) -> datetime:
        return at

    def wall_seconds(self, span: timedelta) -> float:
        return span.total_seconds()


def add_account(dsn: str, login: str, role: Role = Role.RESIDENT, site_id: str | None = None) -> int:
    with psycopg.connect(dsn) as connection:
        return create_account(connection, login=login, display_name=login.title(), role=role, site_id=site_id).id


def token_for(dsn: str, account_id: int) -> str:
    with psycopg.connect(dsn) as connection:
        return issue_token(connection, account_id=account_id, now=datetime.now(UTC), expires_at=None, label="test")


def add_booking(
    dsn: str,
    *,
    owner: int,
    start: datetime,
    end: datetime,
    space: str = SPACE,
    site: str = SITE,
    status: str = "confirmed",
    checked_in_at: datetime | None = None,
    series_id: int | None = None,
) -> int:
    """A booking made a day before it starts; the space's deadline pulled forward as the bookings API does."""
    made = start - timedelta(days=1)
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "INSERT INTO booking (site_id, space_id, during, owner_id, created_by, attendees, status, created_at,"
            " confirmed_at, checked_in_at, check_in_source, series_id, updated_at)"
            " VALUES (%s, %s, tstzrange(%s, %s), %s, %s, 4, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                site,
                space,
                start,
                end,
                owner,
                owner,
                status,
                made,
                made,
                checked_in_at,
                None if checked_in_at is None else "api",
                series_id,
                made,
            ),
        ).fetchone()
        assert row is not None
        pull_schedule_forward(connection, site_id=site, space_id=space, due_at=made)
        return int(row[0])


def add_waitlist_entry(dsn: str, *, account: int, start: datetime, end: datetime, created_at: datetime) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "INSERT INTO waitlist_entry (site_id, space_id, account_id, created_by, wanted, min_minutes, attendees,"
            " status, created_at, updated_at) VALUES (%s, %s, %s, %s, tstzrange(%s, %s), 30, 5, 'waiting', %s, %s)"
            " RETURNING id",
            (SITE, SPACE, account, account, start, end, created_at, created_at),
        ).fetchone()
        assert row is not None
        return int(row[0])


_seq = itertools.count(1)


def add_readings(
    dsn: str,
    *,
    people: int,
    start: datetime,
    end: datetime,
    every: timedelta = timedelta(minutes=1),
    sensor: str = SENSOR,
    space: str = SPACE,
    site: str = SITE,
) -> None:
    """Readings of ``people`` from ``start`` to ``end`` inclusive, one each ``every`` (wall times: ManualClock's)."""
    rows = []
    at = start
    while at <= end:
        rows.append((sensor, next(_seq), at, at, site, space, people, people > 0))
        at += every
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO occupancy_reading (device_id, seq, ts, received_at, site_id, space_id, people, occupied)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def one(dsn: str, query: str, *params: object) -> tuple[object, ...]:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(query, params).fetchone()
    assert row is not None, query
    return tuple(row)


def events(dsn: str, booking_id: int, kind: str | None = None) -> list[tuple[str, str, dict[str, object]]]:
    """(kind, detail, evidence) of the booking's events, oldest first."""
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT kind, detail, evidence FROM booking_event WHERE booking_id = %s"
            " AND (%s::text IS NULL OR kind = %s) ORDER BY at, id",
            (booking_id, kind, kind),
        ).fetchall()
    return [(str(k), str(d), dict(e)) for k, d, e in rows]


def belt_of_rooms(rooms: int) -> str:
    """Site-file text of one site with ``rooms`` bookable rooms, each with one VS121 sensor ``room-<i>-occupancy``."""
    lines = [
        "schema: smartcomplex.site/v1",
        "name: Many rooms",
        "timezone: Asia/Shanghai",
        "sites:",
        f"  - id: {SITE}",
        "    name: Rooms",
        "    address: No. 1 Test Road",
        "    floors: [{id: 1f, name: First floor, level: 1}]",
        "    spaces:",
    ]
    for index in range(rooms):
        lines.append(
            f"      - {{id: room-{index}, name: Room {index}, floor: 1f, kind: meeting-room, capacity: 10,"
            ' bookable: true, hours: {mon-sun: "00:00-24:00"}}'
        )
    lines.append("    devices:")
    for index in range(rooms):
        lines += [
            f"      - id: room-{index}-occupancy",
            "        model: milesight-vs121",
            f"        space: room-{index}",
            "        transport: mqtt",
            f"        serial: ROOM{index:04d}",
            f"        vendor_topic: milesight/vs121/ROOM{index:04d}",
            "        report_interval_s: 60",
        ]
    return "\n".join(lines) + "\n"


def bookable_spaces(belt: Belt) -> list[tuple[str, str]]:
    return [(site.id, space.id) for site in belt.sites for space in site.spaces if space.bookable]
