"""Waitlist offers taken or turned down, and releases undone, through the API (the scheduler makes the offers and
the releases: server/db/release_actions.py, server/db/waitlist_offers.py).

- accept: a held offer becomes a confirmed booking (grace counts from now); its waitlist entry is booked;
- decline: the offer ends (status expired, its entry expired too) and its range goes to the next waiting entry;
- undo: a released booking comes back (confirmed, grace counting from now) within the policy's undo window, if its
  slot is free: unaccepted holds on it are withdrawn (their entries wait again); an accepted one keeps the slot
  (SlotTaken).
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from server.db.bookings import BookingRecord, locked_booking, record_booking_event, reread, slot_taken
from server.db.errors import DatabaseError, translated_errors
from server.db.series_strikes import reset_strikes
from server.db.waitlist_offers import SpaceRef, offer_freed_range, withdraw_hold
from server.domain.accounts import Account
from server.domain.bookings import BookingRuleError, RuleCode, check_status, check_undo_window
from server.domain.release_types import ReleasePolicy


def accept_offer(
    connection: psycopg.Connection, *, booking: BookingRecord, actor: Account, now: datetime
) -> BookingRecord:
    current = locked_booking(connection, booking, now=now)
    check_status(current.status, ("held",), "accepted")
    if current.hold_expires_at is not None and current.hold_expires_at <= now:
        raise BookingRuleError(RuleCode.WRONG_STATUS, f"the offer expired at {current.hold_expires_at.isoformat()}")
    with translated_errors("accepting an offer"):
        connection.execute(
            "UPDATE booking SET status = 'confirmed', confirmed_at = %s, hold_expires_at = NULL, updated_at = %s"
            " WHERE id = %s",
            (now, now, current.id),
        )
        if current.waitlist_id is not None:
            connection.execute(
                "UPDATE waitlist_entry SET status = 'booked', updated_at = %s WHERE id = %s",
                (now, current.waitlist_id),
            )
    record_booking_event(
        connection, current, "accepted", actor, now, detail="waitlist offer accepted", evidence=_entry(current)
    )
    return reread(connection, current.id)


def decline_offer(
    connection: psycopg.Connection,
    *,
    booking: BookingRecord,
    space: SpaceRef,
    policy: ReleasePolicy,
    actor: Account,
    now: datetime,
) -> BookingRecord:
    """Turn a held offer down; what is left of its range is offered to the next waiting entry straight away."""
    current = locked_booking(connection, booking, now=now)
    check_status(current.status, ("held",), "declined")
    with translated_errors("declining an offer"):
        connection.execute("UPDATE booking SET status = 'expired', updated_at = %s WHERE id = %s", (now, current.id))
        if current.waitlist_id is not None:
            connection.execute(
                "UPDATE waitlist_entry SET status = 'expired', updated_at = %s WHERE id = %s AND status = 'offered'",
                (now, current.waitlist_id),
            )
    record_booking_event(
        connection, current, "declined", actor, now, detail="waitlist offer declined", evidence=_entry(current)
    )
    offer_freed_range(
        connection,
        space=space,
        freed_from=current.start,
        freed_until=current.end,
        now=now,
        hold=policy.hold,
        released_from=current.released_from,
        evidence={"declined_hold": current.id},
    )
    return reread(connection, current.id)


def undo_release(
    connection: psycopg.Connection,
    *,
    booking: BookingRecord,
    space: SpaceRef,
    policy: ReleasePolicy,
    actor: Account,
    now: datetime,
) -> BookingRecord:
    current = locked_booking(connection, booking, now=now)
    check_status(current.status, ("released",), "restored")
    check_undo_window(released_at=current.released_at, now=now, undo_window=policy.undo_window)
    if now >= current.end:
        raise BookingRuleError(RuleCode.WRONG_STATUS, f"the booking ended at {current.end.isoformat()}")
    evidence = {"released_at": None if current.released_at is None else current.released_at.isoformat()}
    try:
        with translated_errors("undoing a release"), connection.transaction():
            withdrawn = [
                hold_id
                for hold_id in _holds_on(connection, current)
                if withdraw_hold(connection, space=space, hold_id=hold_id, now=now, evidence={"undone": current.id})
            ]
            # Grace counts again from now (confirmed_at), and the warning stage with it.
            connection.execute(
                "UPDATE booking SET status = 'confirmed', released_at = NULL, confirmed_at = %s, warned_at = NULL,"
                " updated_at = %s WHERE id = %s",
                (now, now, current.id),
            )
    except DatabaseError as exc:
        if isinstance(exc.__cause__, psycopg.errors.ExclusionViolation):
            raise slot_taken(connection, current.site_id, current.space_id, current.start, current.end) from exc
        raise
    reset_strikes(connection, series_id=current.series_id)
    record_booking_event(
        connection,
        current,
        "undone",
        actor,
        now,
        detail="release undone" + (f"; offers withdrawn: {withdrawn}" if withdrawn else ""),
        evidence=evidence | {"withdrawn_holds": withdrawn},
    )
    return reread(connection, current.id)


def _holds_on(connection: psycopg.Connection, booking: BookingRecord) -> list[int]:
    """Unaccepted offers overlapping the booking's range, locked (after the booking, as the scheduler does)."""
    with translated_errors("reading holds"):
        rows = connection.execute(
            "SELECT id FROM booking WHERE site_id = %s AND space_id = %s AND status = 'held'"
            " AND during && tstzrange(%s, %s) ORDER BY id FOR UPDATE",
            (booking.site_id, booking.space_id, booking.start, booking.end),
        ).fetchall()
    return [int(row[0]) for row in rows]


def _entry(booking: BookingRecord) -> dict[str, int | None]:
    return {"waitlist_id": booking.waitlist_id, "released_from": booking.released_from}
