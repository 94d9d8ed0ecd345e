"""Changing a booking: move or resize it, cancel it, check in, keep it (never auto-released).

Each function locks the space's schedule row and then the booking (server/db/bookings.py: locked_booking), checks
the booking's status as it is now, changes it, and records the event, in the caller's transaction. The caller has
checked that the actor may do this to this booking (server/domain/accounts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

import psycopg

from devices.site import Space
from server.db.bookings import (
    ACTIVE,
    BookingRecord,
    locked_booking,
    record_booking_event,
    reread,
    slot_taken,
)
from server.db.errors import DatabaseError, translated_errors
from server.db.series_strikes import reset_strikes
from server.domain.accounts import Account
from server.domain.bookings import (
    BookingLimits,
    BookingRuleError,
    RuleCode,
    check_check_in_window,
    check_slot,
    check_status,
)

CheckInSource = Literal["api", "panel", "qr"]


@dataclass(frozen=True, slots=True)
class BookingEdits:
    """New values for a booking; None: unchanged."""

    start: datetime | None = None
    end: datetime | None = None
    attendees: int | None = None
    title: str | None = None


def change_booking(
    connection: psycopg.Connection,
    *,
    booking: BookingRecord,
    edits: BookingEdits,
    space: Space,
    tz: tzinfo,
    actor: Account,
    limits: BookingLimits,
    now: datetime,
) -> BookingRecord:
    """Move, resize, retitle: the rules are checked again and the constraint has the last word. A booking under
    way (checked in) keeps its start."""
    current = locked_booking(connection, booking, now=now)
    check_status(current.status, ("confirmed", "checked_in"), "changed")
    start = current.start if edits.start is None else edits.start
    end = current.end if edits.end is None else edits.end
    attendees = current.attendees if edits.attendees is None else edits.attendees
    title = current.title if edits.title is None else edits.title
    if current.status == "checked_in" and start != current.start:
        raise BookingRuleError(RuleCode.WRONG_STATUS, "a booking under way keeps its start; change its end instead")
    before = {"start": current.start.isoformat(), "end": current.end.isoformat(), "attendees": current.attendees}
    after = {"start": start.isoformat(), "end": end.isoformat(), "attendees": attendees}
    if before == after and title == current.title:
        return current
    if before != after:
        check_slot(
            space=space,
            tz=tz,
            start=start,
            end=end,
            attendees=attendees,
            now=now,
            limits=limits,
            booker_role=actor.role,
            check_past=start != current.start,
        )
    try:
        with translated_errors("changing a booking"), connection.transaction():
            # A new start restarts the warning stage: a warning is about the start the organiser now expects.
            connection.execute(
                "UPDATE booking SET during = tstzrange(%s, %s), attendees = %s, title = %s, updated_at = %s,"
                " warned_at = CASE WHEN %s THEN NULL ELSE warned_at END WHERE id = %s",
                (start, end, attendees, title, now, start != current.start, current.id),
            )
    except DatabaseError as exc:
        if isinstance(exc.__cause__, psycopg.errors.ExclusionViolation):
            raise slot_taken(connection, current.site_id, current.space_id, start, end) from exc.__cause__
        raise
    changes = [f"{name} {before[name]} → {after[name]}" for name in before if before[name] != after[name]]
    if title != current.title:
        changes.append(f"title {current.title!r} → {title!r}")
    evidence = {"before": before | {"title": current.title}, "after": after | {"title": title}}
    record_booking_event(connection, current, "changed", actor, now, detail=", ".join(changes), evidence=evidence)
    return reread(connection, current.id)


def cancel_booking(
    connection: psycopg.Connection, *, booking: BookingRecord, actor: Account, now: datetime
) -> BookingRecord:
    """Cancel a booking that holds its range (a waitlist offer too: its entry is cancelled with it)."""
    current = locked_booking(connection, booking, now=now)
    check_status(current.status, ACTIVE, "cancelled")
    with translated_errors("cancelling a booking"):
        connection.execute(
            "UPDATE booking SET status = 'cancelled', cancelled_at = %s, updated_at = %s WHERE id = %s",
            (now, now, current.id),
        )
        if current.waitlist_id is not None and current.status == "held":
            connection.execute(
                "UPDATE waitlist_entry SET status = 'cancelled', updated_at = %s WHERE id = %s AND status = 'offered'",
                (now, current.waitlist_id),
            )
    record_booking_event(connection, current, "cancelled", actor, now, detail=f"was {current.status}", evidence={})
    return reread(connection, current.id)


def check_in(
    connection: psycopg.Connection,
    *,
    booking: BookingRecord,
    source: CheckInSource,
    opens_before: timedelta,
    actor: Account,
    now: datetime,
) -> BookingRecord:
    """Somebody came: from ``opens_before`` the start (the space's policy) until the end. Checking in again
    changes nothing. A series' no-show strikes start again from zero."""
    current = locked_booking(connection, booking, now=now)
    if current.status == "checked_in":
        return current
    check_status(current.status, ("confirmed",), "checked in")
    check_check_in_window(start=current.start, end=current.end, now=now, opens_before=opens_before)
    with translated_errors("checking a booking in"):
        connection.execute(
            "UPDATE booking SET status = 'checked_in', checked_in_at = %s, check_in_source = %s, updated_at = %s"
            " WHERE id = %s",
            (now, source, now, current.id),
        )
    reset_strikes(connection, series_id=current.series_id)
    record_booking_event(
        connection, current, "checked_in", actor, now, detail=f"checked in ({source})", evidence={"source": source}
    )
    return reread(connection, current.id)


def keep_booking(
    connection: psycopg.Connection, *, booking: BookingRecord, actor: Account, now: datetime
) -> BookingRecord:
    """The organiser says "keep it": the booking is never auto-released. Keeping it again changes nothing."""
    current = locked_booking(connection, booking, now=now)
    check_status(current.status, ("confirmed",), "kept")
    if current.kept_at is not None:
        return current
    with translated_errors("keeping a booking"):
        connection.execute("UPDATE booking SET kept_at = %s, updated_at = %s WHERE id = %s", (now, now, current.id))
    record_booking_event(connection, current, "kept", actor, now, detail="kept: never auto-released", evidence={})
    return reread(connection, current.id)
