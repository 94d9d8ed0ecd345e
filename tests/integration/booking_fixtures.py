"""The bookings API on a fixed server clock, against a real PostgreSQL, with accounts made straight in the database.

The clock is an injected object (server.clock.Clock protocol) set on ``app.state.clock``: bookings and their rules
run on it, while tokens keep expiring on the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi.testclient import TestClient

from devices.site import load_belt
from server.app import create_app
from tests.integration.account_fixtures import api_settings

BELT = load_belt()
SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = "complex"
SPACE = "sharing-space"  # mon-fri 09:00-12:00, 13:00-21:00; sat-sun 09:00-17:00; 40 people
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=SHANGHAI)  # a Monday, an hour before opening


class FixedClock:
    """A server clock that stands still until a test moves it."""

    ready = True

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def from_wall(self, wall: datetime) -> datetime:
        return wall

    def to_wall(self, at: datetime) -> datetime:
        return at

    def wall_seconds(self, span: timedelta) -> float:
        return span.total_seconds()


@contextmanager
def booking_client(database: str, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(api_settings(database), belt=BELT)
    app.state.clock = clock
    with TestClient(app) as client:
        yield client


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in December 2026, Shanghai."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def slot(
    start: datetime, minutes: int = 60, *, space: str = SPACE, attendees: int = 10, **extra: Any
) -> dict[str, Any]:
    """A POST /api/v1/bookings body."""
    end = start + timedelta(minutes=minutes)
    return {"site": SITE, "space": space, "start": utc(start), "end": utc(end), "attendees": attendees, **extra}


def booking_row(database: str, booking_id: int) -> tuple[Any, ...]:
    """Every column of the booking, to compare before and after."""
    with psycopg.connect(database) as connection:
        row = connection.execute("SELECT * FROM booking WHERE id = %s", (booking_id,)).fetchone()
    assert row is not None
    return tuple(row)


def events(database: str, booking_id: int) -> list[tuple[str, int | None, int | None]]:
    """(kind, actor_id, on_behalf_of) of the booking's events, oldest first."""
    with psycopg.connect(database) as connection:
        rows = connection.execute(
            "SELECT kind, actor_id, on_behalf_of FROM booking_event WHERE booking_id = %s ORDER BY at, id",
            (booking_id,),
        ).fetchall()
    return [(str(kind), actor, behalf) for kind, actor, behalf in rows]


def count(database: str, query: str, *params: Any) -> int:
    with psycopg.connect(database) as connection:
        row = connection.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])
