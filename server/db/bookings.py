"""Bookings (``booking``): reading them, the errors the database's truth gives, and what every change shares.

Every function works in the caller's transaction and commits nothing. The exclusion constraint
``booking_no_overlap`` is the one truth about conflicts: nothing checks for a free slot first, so no number of
concurrent requests can double-book a space; its violation becomes :class:`SlotTaken` naming the booking in the
way. A change locks the space's ``room_schedule`` row first (by pulling its deadline forward: the release scheduler
skips a locked space, so it never decides about a booking while it changes), then the booking
(:func:`locked_booking`), and records an event in the audit trail, with ``on_behalf_of`` = the owner when somebody
else acted. Creating (server/db/booking_create.py) locks the owner's account row before the space's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row, tuple_row

from server.db.booking_events import record_event
from server.db.errors import translated_errors
from server.db.schedule import pull_schedule_forward
from server.domain.accounts import Account
from server.domain.bookings import NotFound
from server.domain.release_types import ACTIVE_STATUSES

ACTIVE = tuple(sorted(status.value for status in ACTIVE_STATUSES))
_SELECT = (
    'SELECT b.id, b.site_id, b.space_id, lower(b.during) AS start, upper(b.during) AS "end", b.attendees, b.title,'
    " b.owner_id, a.login AS owner_login, a.display_name AS owner_display_name, b.status, b.series_id,"
    " b.external_ref, b.created_at, b.confirmed_at, b.checked_in_at, b.check_in_source, b.warned_at, b.kept_at,"
    " b.released_at, b.ended_at, b.cancelled_at, b.hold_expires_at, b.waitlist_id, b.released_from"
    " FROM booking b JOIN account a ON a.id = b.owner_id"
)


class BookingError(Exception):
    """A booking operation refused by the database's truth (as opposed to a rule of server.domain.bookings)."""


class BookingNotFound(BookingError, NotFound):
    """No such booking, or one the caller may not see: its existence is not revealed (HTTP 404)."""


class SlotTaken(BookingError):
    """Another booking holds (part of) the range (HTTP 409); ``start``/``end`` are the conflicting booking's."""

    def __init__(self, start: datetime, end: datetime) -> None:
        super().__init__(f"the space is booked from {start.isoformat()} to {end.isoformat()}")
        self.start = start
        self.end = end


@dataclass(frozen=True, slots=True)
class BookingRecord:
    id: int
    site_id: str
    space_id: str
    start: datetime
    end: datetime
    attendees: int
    title: str
    owner_id: int
    owner_login: str
    owner_display_name: str
    status: str
    series_id: int | None
    external_ref: str | None
    created_at: datetime
    confirmed_at: datetime | None
    checked_in_at: datetime | None
    check_in_source: str | None
    warned_at: datetime | None
    kept_at: datetime | None
    released_at: datetime | None
    ended_at: datetime | None
    cancelled_at: datetime | None
    hold_expires_at: datetime | None
    waitlist_id: int | None
    released_from: int | None


def get_booking(connection: psycopg.Connection, booking_id: int) -> BookingRecord | None:
    with translated_errors("reading a booking"), connection.cursor(row_factory=class_row(BookingRecord)) as cursor:
        cursor.execute(f"{_SELECT} WHERE b.id = %s", (booking_id,))
        return cursor.fetchone()


def list_bookings(
    connection: psycopg.Connection,
    *,
    site_id: str | None = None,
    space_id: str | None = None,
    overlapping: tuple[datetime | None, datetime | None] = (None, None),
    statuses: tuple[str, ...] = (),
    owner_id: int | None = None,
    limit: int = 1000,
) -> list[BookingRecord]:
    """Bookings matching every filter given, by start; ``overlapping``: (from, to), either end open."""
    conditions, params = ["true"], list[Any]()
    for column, value in (("b.site_id", site_id), ("b.space_id", space_id), ("b.owner_id", owner_id)):
        if value is not None:
            conditions.append(f"{column} = %s")
            params.append(value)
    if overlapping != (None, None):
        conditions.append("b.during && tstzrange(%s, %s)")
        params.extend(overlapping)
    if statuses:
        conditions.append("b.status = ANY(%s)")
        params.append(list(statuses))
    query = f"{_SELECT} WHERE {' AND '.join(conditions)} ORDER BY lower(b.during), b.id LIMIT %s"
    with translated_errors("listing bookings"), connection.cursor(row_factory=class_row(BookingRecord)) as cursor:
        cursor.execute(query, (*params, limit))
        return cursor.fetchall()


def booking_by_ref(connection: psycopg.Connection, *, owner_id: int, external_ref: str) -> BookingRecord | None:
    with translated_errors("reading a booking"), connection.cursor(row_factory=class_row(BookingRecord)) as cursor:
        cursor.execute(f"{_SELECT} WHERE b.owner_id = %s AND b.external_ref = %s", (owner_id, external_ref))
        return cursor.fetchone()


def active_bookings_held(connection: psycopg.Connection, *, owner_id: int, now: datetime) -> int:
    """The owner's bookings that occupy a range not over yet (what the quota counts)."""
    with translated_errors("counting bookings"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT count(*) FROM booking WHERE owner_id = %s AND status = ANY(%s) AND upper(during) > %s",
            (owner_id, list(ACTIVE), now),
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def on_behalf_of(actor: Account, owner_id: int) -> int | None:
    return None if actor.id == owner_id else owner_id


def slot_taken(
    connection: psycopg.Connection, site_id: str, space_id: str, start: datetime, end: datetime
) -> SlotTaken:
    """The error naming the active booking that overlaps [start, end) (after the savepoint was rolled back)."""
    with translated_errors("reading a conflicting booking"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT lower(during), upper(during) FROM booking WHERE site_id = %s AND space_id = %s"
            " AND during && tstzrange(%s, %s) AND status = ANY(%s) ORDER BY lower(during) LIMIT 1",
            (site_id, space_id, start, end, list(ACTIVE)),
        )
        row = cursor.fetchone()
    return SlotTaken(start, end) if row is None else SlotTaken(row[0], row[1])


def record_booking_event(
    connection: psycopg.Connection,
    booking: BookingRecord,
    kind: str,
    actor: Account,
    now: datetime,
    *,
    detail: str,
    evidence: dict[str, Any],
) -> None:
    record_event(
        connection,
        at=now,
        site_id=booking.site_id,
        space_id=booking.space_id,
        booking_id=booking.id,
        kind=kind,
        actor_id=actor.id,
        on_behalf_of=on_behalf_of(actor, booking.owner_id),
        detail=detail,
        evidence=evidence,
    )


def locked_booking(connection: psycopg.Connection, booking: BookingRecord, *, now: datetime) -> BookingRecord:
    """The booking as it is now, locked until the transaction ends (after the space's schedule row)."""
    pull_schedule_forward(connection, site_id=booking.site_id, space_id=booking.space_id, due_at=now)
    with translated_errors("locking a booking"), connection.cursor(row_factory=class_row(BookingRecord)) as cursor:
        cursor.execute(f"{_SELECT} WHERE b.id = %s FOR UPDATE OF b", (booking.id,))
        locked = cursor.fetchone()
    if locked is None:
        raise BookingNotFound(f"no booking {booking.id}")
    return locked


def reread(connection: psycopg.Connection, booking_id: int) -> BookingRecord:
    """A booking just changed in this transaction."""
    record = get_booking(connection, booking_id)
    assert record is not None
    return record


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    kind: str
    actor_id: int | None
    actor_login: str | None
    actor_display_name: str | None
    on_behalf_of_id: int | None
    on_behalf_of_login: str | None
    on_behalf_of_display_name: str | None
    mode: str
    detail: str
    evidence: dict[str, Any]


def booking_history(connection: psycopg.Connection, booking_id: int) -> list[HistoryEntry]:
    """The booking's audit trail, oldest first."""
    with (
        translated_errors("reading a booking's history"),
        connection.cursor(row_factory=class_row(HistoryEntry)) as cursor,
    ):
        cursor.execute(
            "SELECT e.at, e.kind, e.actor_id, actor.login AS actor_login, actor.display_name AS actor_display_name,"
            " e.on_behalf_of AS on_behalf_of_id, owner.login AS on_behalf_of_login,"
            " owner.display_name AS on_behalf_of_display_name, e.mode, e.detail, e.evidence"
            " FROM booking_event e LEFT JOIN account actor ON actor.id = e.actor_id"
            " LEFT JOIN account owner ON owner.id = e.on_behalf_of"
            " WHERE e.booking_id = %s ORDER BY e.at, e.id",
            (booking_id,),
        )
        return cursor.fetchall()
