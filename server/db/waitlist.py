"""Waitlist entries (``waitlist_entry``): people who want a space for a range that was taken.

Joining and leaving are recorded in the audit trail (``waitlist_joined``/``waitlist_left``, with no booking id);
the scheduler offers released time to waiting entries (server/db/waitlist_offers.py). Functions work in the
caller's transaction and commit nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from devices.site import Space
from server.db.booking_events import record_event
from server.db.bookings import on_behalf_of
from server.db.errors import translated_errors
from server.db.waitlist_offers import SpaceRef, offer_freed_range
from server.domain.accounts import Account
from server.domain.bookings import BookingRuleError, NotFound, RuleCode, check_range, check_status
from server.domain.release_types import ReleasePolicy

_SELECT = (
    'SELECT id, site_id, space_id, account_id, lower(wanted) AS start, upper(wanted) AS "end", attendees,'
    " min_minutes, status, offered_booking_id, created_at FROM waitlist_entry"
)


class WaitlistEntryNotFound(NotFound):
    """No such entry, or one the caller may not see (HTTP 404)."""


@dataclass(frozen=True, slots=True)
class WaitlistRecord:
    id: int
    site_id: str
    space_id: str
    account_id: int
    start: datetime
    end: datetime
    attendees: int
    min_minutes: int
    status: str
    offered_booking_id: int | None
    created_at: datetime


def join_waitlist(
    connection: psycopg.Connection,
    *,
    site_id: str,
    space: Space,
    start: datetime,
    end: datetime,
    attendees: int,
    min_minutes: int,
    owner: Account,
    actor: Account,
    now: datetime,
) -> WaitlistRecord:
    check_range(start, end)
    if not space.bookable:
        raise BookingRuleError(RuleCode.NOT_BOOKABLE, f"{space.name} ({space.id}) is not bookable")
    if end <= now:
        raise BookingRuleError(RuleCode.IN_PAST, f"the range ended at {end.isoformat()}")
    if attendees > space.capacity:
        raise BookingRuleError(RuleCode.OVER_CAPACITY, f"{space.name} holds {space.capacity} people, not {attendees}")
    if (end - start).total_seconds() < min_minutes * 60:
        raise BookingRuleError(RuleCode.BAD_RANGE, f"the range is shorter than min_minutes ({min_minutes})")
    with translated_errors("joining a waitlist"), connection.cursor(row_factory=class_row(WaitlistRecord)) as cursor:
        cursor.execute(
            "INSERT INTO waitlist_entry (site_id, space_id, account_id, created_by, wanted, min_minutes, attendees,"
            " status, created_at, updated_at) VALUES (%s, %s, %s, %s, tstzrange(%s, %s), %s, %s, 'waiting', %s, %s)"
            ' RETURNING id, site_id, space_id, account_id, lower(wanted) AS start, upper(wanted) AS "end",'
            " attendees, min_minutes, status, offered_booking_id, created_at",
            (site_id, space.id, owner.id, actor.id, start, end, min_minutes, attendees, now, now),
        )
        entry = cursor.fetchone()
    assert entry is not None
    _record(connection, entry, "waitlist_joined", actor, now, f"waiting for {start.isoformat()} to {end.isoformat()}")
    return entry


def get_entry(connection: psycopg.Connection, entry_id: int) -> WaitlistRecord | None:
    with translated_errors("reading a waitlist entry"), connection.cursor(row_factory=class_row(WaitlistRecord)) as cur:
        cur.execute(f"{_SELECT} WHERE id = %s", (entry_id,))
        return cur.fetchone()


def list_entries(
    connection: psycopg.Connection,
    *,
    account_id: int | None = None,
    site_id: str | None = None,
    space_id: str | None = None,
    status: str | None = None,
    limit: int = 1000,
) -> list[WaitlistRecord]:
    """Entries matching every filter given, oldest first."""
    conditions, params = ["true"], list[object]()
    filters = (("account_id", account_id), ("site_id", site_id), ("space_id", space_id), ("status", status))
    for column, value in filters:
        if value is not None:
            conditions.append(f"{column} = %s")
            params.append(value)
    query = f"{_SELECT} WHERE {' AND '.join(conditions)} ORDER BY created_at, id LIMIT %s"
    with translated_errors("listing waitlist entries"), connection.cursor(row_factory=class_row(WaitlistRecord)) as cur:
        cur.execute(query, (*params, limit))
        return cur.fetchall()


def leave_waitlist(
    connection: psycopg.Connection,
    *,
    entry: WaitlistRecord,
    space: SpaceRef,
    policy: ReleasePolicy,
    actor: Account,
    now: datetime,
) -> WaitlistRecord:
    """Stop waiting; an offer made to the entry and not yet accepted is given back (expired) with it, and offered
    to the next waiting entry. Leaving again changes nothing; an entry that got its booking is left by cancelling
    the booking."""
    with translated_errors("leaving a waitlist"), connection.cursor(row_factory=class_row(WaitlistRecord)) as cur:
        cur.execute(f"{_SELECT} WHERE id = %s FOR UPDATE", (entry.id,))
        current = cur.fetchone()
    if current is None:
        raise WaitlistEntryNotFound(f"no waitlist entry {entry.id}")
    if current.status == "cancelled":
        return current
    check_status(current.status, ("waiting", "offered"), "left (cancel its booking instead)")
    with translated_errors("leaving a waitlist"):
        connection.execute(
            "UPDATE waitlist_entry SET status = 'cancelled', updated_at = %s WHERE id = %s", (now, current.id)
        )
        given_back = None
        if current.offered_booking_id is not None:
            given_back = connection.execute(
                "UPDATE booking SET status = 'expired', updated_at = %s WHERE id = %s AND status = 'held'"
                " RETURNING lower(during), upper(during), released_from",
                (now, current.offered_booking_id),
            ).fetchone()
    _record(connection, current, "waitlist_left", actor, now, f"was {current.status}")
    if given_back is not None:
        start, end, released_from = given_back
        offer_freed_range(
            connection,
            space=space,
            freed_from=start,
            freed_until=end,
            now=now,
            hold=policy.hold,
            released_from=released_from,
            evidence={"given_back_by_waitlist_entry": current.id},
        )
    left = get_entry(connection, current.id)
    assert left is not None
    return left


def _record(
    connection: psycopg.Connection, entry: WaitlistRecord, kind: str, actor: Account, now: datetime, detail: str
) -> None:
    record_event(
        connection,
        at=now,
        site_id=entry.site_id,
        space_id=entry.space_id,
        booking_id=entry.offered_booking_id,
        kind=kind,
        actor_id=actor.id,
        on_behalf_of=on_behalf_of(actor, entry.account_id),
        detail=detail,
        evidence={"waitlist_id": entry.id},
    )
