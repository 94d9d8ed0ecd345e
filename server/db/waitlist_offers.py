"""Waitlist offers the release scheduler makes and takes back: holds on freed time (``booking`` status 'held').

When a booking is released (or an offer expires), the freed range goes to the first waiting entry of the space (by
created_at) that wants at least ``min_minutes`` of it and fits the space: a held booking for that entry's account,
kept until ``hold_expires_at``, with a notice to accept it. The database's exclusion constraint has the last word:
an entry whose part of the range is taken in the meantime is skipped (a SAVEPOINT keeps the rest of the
scheduler's transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import tuple_row

from server.db.booking_events import record_event
from server.db.errors import DatabaseError, translated_errors
from server.db.notices import create_notice
from server.release.texts import offer_notice, offer_withdrawn_notice

HOLD_TITLE = "Waitlist offer"


@dataclass(frozen=True, slots=True)
class SpaceRef:
    """The space a decision is about, as notices and events name it."""

    site_id: str
    space_id: str
    name: str
    capacity: int
    tz: ZoneInfo


@dataclass(frozen=True, slots=True)
class HoldOffered:
    booking_id: int
    waitlist_id: int
    account_id: int
    start: datetime
    end: datetime
    expires_at: datetime


def is_exclusion_violation(exc: DatabaseError) -> bool:
    return isinstance(exc.__cause__, psycopg.errors.ExclusionViolation)


def offer_freed_range(
    connection: psycopg.Connection,
    *,
    space: SpaceRef,
    freed_from: datetime,
    freed_until: datetime,
    now: datetime,
    hold: timedelta,
    released_from: int | None,
    evidence: Mapping[str, Any],
) -> HoldOffered | None:
    """Offer [freed_from, freed_until) to the first waiting entry that fits; None when nobody takes it."""
    freed_from = max(freed_from, now)
    if freed_until <= freed_from:
        return None
    params = {"site": space.site_id, "space": space.space_id, "from": freed_from, "until": freed_until}
    with translated_errors("reading the waitlist"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT id, account_id, created_by, attendees,"
            " lower(wanted * tstzrange(%(from)s, %(until)s)), upper(wanted * tstzrange(%(from)s, %(until)s))"
            " FROM waitlist_entry WHERE site_id = %(site)s AND space_id = %(space)s AND status = 'waiting'"
            " AND wanted && tstzrange(%(from)s, %(until)s) AND attendees <= %(capacity)s"
            " AND upper(wanted * tstzrange(%(from)s, %(until)s)) - lower(wanted * tstzrange(%(from)s, %(until)s))"
            " >= make_interval(mins => min_minutes)"
            " ORDER BY created_at, id FOR UPDATE",
            {**params, "capacity": space.capacity},
        )
        entries = cursor.fetchall()
    expires_at = now + hold
    for entry_id, account_id, created_by, attendees, start, end in entries:
        try:
            with connection.transaction(), translated_errors("offering a hold"):
                row = connection.execute(
                    "INSERT INTO booking (site_id, space_id, during, owner_id, created_by, title, attendees, status,"
                    " created_at, hold_expires_at, waitlist_id, released_from, updated_at)"
                    " VALUES (%s, %s, tstzrange(%s, %s), %s, %s, %s, %s, 'held', %s, %s, %s, %s, %s) RETURNING id",
                    (
                        space.site_id,
                        space.space_id,
                        start,
                        end,
                        account_id,
                        created_by,
                        HOLD_TITLE,
                        attendees,
                        now,
                        expires_at,
                        entry_id,
                        released_from,
                        now,
                    ),
                ).fetchone()
        except DatabaseError as exc:
            if is_exclusion_violation(exc):
                continue  # that part of the range was booked meanwhile: the next entry may want another part
            raise
        assert row is not None
        offer = HoldOffered(int(row[0]), int(entry_id), int(account_id), start, end, expires_at)
        _record_offer(connection, space=space, offer=offer, now=now, released_from=released_from, evidence=evidence)
        return offer
    return None


def _record_offer(
    connection: psycopg.Connection,
    *,
    space: SpaceRef,
    offer: HoldOffered,
    now: datetime,
    released_from: int | None,
    evidence: Mapping[str, Any],
) -> None:
    with translated_errors("marking a waitlist entry offered"):
        connection.execute(
            "UPDATE waitlist_entry SET status = 'offered', offered_booking_id = %s, updated_at = %s WHERE id = %s",
            (offer.booking_id, now, offer.waitlist_id),
        )
    notice_id, _token = create_notice(
        connection,
        account_id=offer.account_id,
        at=now,
        kind="waitlist_offer",
        text=offer_notice(space.name, offer.start, offer.end, offer.expires_at, space.tz),
        booking_id=offer.booking_id,
        action="accept",
        action_expires_at=offer.expires_at,
    )
    record_event(
        connection,
        at=now,
        site_id=space.site_id,
        space_id=space.space_id,
        booking_id=offer.booking_id,
        kind="hold_offered",
        detail=f"held for waitlist entry {offer.waitlist_id} until {offer.expires_at.isoformat()}",
        evidence={
            **evidence,
            "waitlist_id": offer.waitlist_id,
            "released_from": released_from,
            "hold": {"start": offer.start.isoformat(), "end": offer.end.isoformat()},
            "hold_expires_at": offer.expires_at.isoformat(),
            "notice_id": notice_id,
        },
    )


def withdraw_hold(
    connection: psycopg.Connection, *, space: SpaceRef, hold_id: int, now: datetime, evidence: Mapping[str, Any]
) -> bool:
    """Take back an unaccepted hold (its entry waits again); False when it is no longer held."""
    with translated_errors("withdrawing a hold"):
        row = connection.execute(
            "UPDATE booking SET status = 'withdrawn', updated_at = %s WHERE id = %s AND status = 'held'"
            " RETURNING owner_id, waitlist_id, lower(during), upper(during)",
            (now, hold_id),
        ).fetchone()
        if row is None:
            return False
        owner_id, waitlist_id, start, end = row
        if waitlist_id is not None:
            connection.execute(
                "UPDATE waitlist_entry SET status = 'waiting', offered_booking_id = NULL, updated_at = %s"
                " WHERE id = %s AND status = 'offered'",
                (now, waitlist_id),
            )
    notice_id, _token = create_notice(
        connection,
        account_id=owner_id,
        at=now,
        kind="offer_withdrawn",
        text=offer_withdrawn_notice(space.name, start, end, space.tz),
        booking_id=hold_id,
    )
    record_event(
        connection,
        at=now,
        site_id=space.site_id,
        space_id=space.space_id,
        booking_id=hold_id,
        kind="hold_withdrawn",
        detail="the released booking's people arrived: the offer is withdrawn",
        evidence={**evidence, "waitlist_id": waitlist_id, "notice_id": notice_id},
    )
    return True


def expire_hold(
    connection: psycopg.Connection, *, space: SpaceRef, hold_id: int, now: datetime, evidence: Mapping[str, Any]
) -> tuple[datetime, datetime, int | None] | None:
    """Expire an offer nobody accepted (its entry too): (its start, end, released_from), or None when it is no
    longer held (accepted or declined meanwhile)."""
    with translated_errors("expiring a hold"):
        row = connection.execute(
            "UPDATE booking SET status = 'expired', updated_at = %s WHERE id = %s AND status = 'held'"
            " RETURNING waitlist_id, lower(during), upper(during), released_from, hold_expires_at",
            (now, hold_id),
        ).fetchone()
        if row is None:
            return None
        waitlist_id, start, end, released_from, expired_at = row
        if waitlist_id is not None:
            connection.execute(
                "UPDATE waitlist_entry SET status = 'expired', updated_at = %s WHERE id = %s AND status = 'offered'",
                (now, waitlist_id),
            )
    record_event(
        connection,
        at=now,
        site_id=space.site_id,
        space_id=space.space_id,
        booking_id=hold_id,
        kind="hold_expired",
        detail=f"not accepted by {expired_at.isoformat()}",
        evidence={**evidence, "waitlist_id": waitlist_id},
    )
    return start, end, released_from
