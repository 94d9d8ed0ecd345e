"""Occupied-but-unbooked use of bookable spaces (``unbooked_use``), and the walk-in bookings made for it.

When a space's policy auto-books such use, the booking belongs to the site's walk-in service account
(``walk-in.<site>``, created the first time it is needed): the people in the room have no account of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from server.db.accounts import AccountExists, account_by_login, create_account
from server.db.booking_events import record_event
from server.db.errors import DatabaseError, translated_errors
from server.db.waitlist_offers import SpaceRef, is_exclusion_violation
from server.domain.accounts import Role
from server.domain.release_types import UnbookedUseEnded, UnbookedUsePeak, UnbookedUseStarted

WALK_IN_TITLE = "Walk-in use"


def walk_in_login(site_id: str) -> str:
    # Logins take no '_' (account.login's CHECK); site ids may.
    return f"walk-in.{site_id.replace('_', '-')}"


def walk_in_account(connection: psycopg.Connection, *, site_id: str) -> int:
    """The id of the site's walk-in service account, created on first need."""
    login = walk_in_login(site_id)
    found = account_by_login(connection, login)
    if found is not None:
        return found[0].id
    try:
        with connection.transaction():
            account = create_account(
                connection, login=login, display_name=f"Walk-in use at {site_id}", role=Role.SERVICE, site_id=site_id
            )
    except AccountExists:  # another replica created it a moment ago
        found = account_by_login(connection, login)
        assert found is not None
        return found[0].id
    return account.id


def start_unbooked_use(
    connection: psycopg.Connection,
    *,
    space: SpaceRef,
    action: UnbookedUseStarted,
    now: datetime,
    evidence: Mapping[str, Any],
) -> int | None:
    """Record the use (and book it for the walk-in account when the policy says so); the booking's id or None."""
    booking_id = None
    if action.auto_book_until is not None:
        booking_id = _auto_book(connection, space=space, action=action, now=now, evidence=evidence)
    with translated_errors("recording unbooked use"):
        row = connection.execute(
            "INSERT INTO unbooked_use (site_id, space_id, started_at, peak_people, booking_id, evidence)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (space.site_id, space.space_id, action.at, action.people, booking_id, Jsonb(dict(evidence))),
        ).fetchone()
    assert row is not None
    record_event(
        connection,
        at=now,
        site_id=space.site_id,
        space_id=space.space_id,
        booking_id=booking_id,
        kind="unbooked_use_started",
        detail=f"{action.people} people with no booking since {action.at.isoformat()}",
        evidence={**evidence, "unbooked_use_id": int(row[0])},
    )
    return booking_id


def _auto_book(
    connection: psycopg.Connection,
    *,
    space: SpaceRef,
    action: UnbookedUseStarted,
    now: datetime,
    evidence: Mapping[str, Any],
) -> int | None:
    """A checked-in booking for the people there: from when they came, or else from now (the time before may have
    been another booking's); None when the constraint refuses both."""
    assert action.auto_book_until is not None
    owner = walk_in_account(connection, site_id=space.site_id)
    for start in dict.fromkeys((action.at, now)):
        if start >= action.auto_book_until:
            continue
        try:
            with connection.transaction(), translated_errors("auto-booking unbooked use"):
                row = connection.execute(
                    "INSERT INTO booking (site_id, space_id, during, owner_id, created_by, title, attendees, status,"
                    " created_at, confirmed_at, checked_in_at, check_in_source, updated_at)"
                    " VALUES (%s, %s, tstzrange(%s, %s), %s, %s, %s, %s, 'checked_in', %s, %s, %s, 'auto', %s)"
                    " RETURNING id",
                    (
                        space.site_id,
                        space.space_id,
                        start,
                        action.auto_book_until,
                        owner,
                        owner,
                        WALK_IN_TITLE,
                        max(1, action.people),
                        now,
                        now,
                        action.at,
                        now,
                    ),
                ).fetchone()
        except DatabaseError as exc:
            if is_exclusion_violation(exc):
                continue
            raise
        assert row is not None
        booking_id = int(row[0])
        record_event(
            connection,
            at=now,
            site_id=space.site_id,
            space_id=space.space_id,
            booking_id=booking_id,
            kind="auto_booked",
            detail=f"booked for the people there until {action.auto_book_until.isoformat()} (policy)",
            evidence=evidence,
        )
        return booking_id
    return None


def raise_unbooked_peak(connection: psycopg.Connection, *, action: UnbookedUsePeak) -> None:
    with translated_errors("updating unbooked use"):
        connection.execute(
            "UPDATE unbooked_use SET peak_people = greatest(peak_people, %s) WHERE id = %s",
            (action.people, action.use_id),
        )


def end_unbooked_use(
    connection: psycopg.Connection,
    *,
    space: SpaceRef,
    action: UnbookedUseEnded,
    now: datetime,
    evidence: Mapping[str, Any],
) -> None:
    with translated_errors("ending unbooked use"):
        row = connection.execute(
            "UPDATE unbooked_use SET ended_at = %s WHERE id = %s AND ended_at IS NULL"
            " RETURNING started_at, peak_people, booking_id",
            (action.at, action.use_id),
        ).fetchone()
    if row is None:
        return
    started_at, peak, booking_id = row
    record_event(
        connection,
        at=now,
        site_id=space.site_id,
        space_id=space.space_id,
        booking_id=booking_id,
        kind="unbooked_use_ended",
        detail=f"unbooked use from {started_at.isoformat()} to {action.at.isoformat()}, at most {peak} people",
        evidence={**evidence, "unbooked_use_id": action.use_id},
    )
