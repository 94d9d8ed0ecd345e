"""Strikes of recurring bookings (``booking_series.strikes``): occurrences released as no-shows in a row.

A check-in (or an undone release) resets the count; at the space policy's ``strikes_to_cancel_series`` the series'
future occurrences are cancelled, so that a weekly slot nobody uses goes back to others.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from server.db.booking_events import record_event
from server.db.errors import translated_errors
from server.db.notices import create_notice
from server.db.waitlist_offers import SpaceRef
from server.domain.release import series_should_be_cancelled
from server.domain.release_types import ReleasePolicy
from server.release.texts import series_cancelled_notice


def reset_strikes(connection: psycopg.Connection, *, series_id: int | None) -> None:
    if series_id is not None:
        with translated_errors("resetting a series' strikes"):
            connection.execute("UPDATE booking_series SET strikes = 0 WHERE id = %s", (series_id,))


def count_strike(
    connection: psycopg.Connection,
    *,
    space: SpaceRef,
    series_id: int,
    booking_id: int,
    owner_id: int,
    policy: ReleasePolicy,
    now: datetime,
    evidence: Mapping[str, Any],
) -> list[str]:
    """Count the release of ``booking_id`` against its series, cancelling the rest at the policy's limit; the kinds
    of the events recorded."""
    with translated_errors("counting a series' strike"):
        row = connection.execute(
            "UPDATE booking_series SET strikes = strikes + 1 WHERE id = %s AND cancelled_at IS NULL RETURNING strikes",
            (series_id,),
        ).fetchone()
    if row is None:
        return []
    strikes = int(row[0])
    base = {**evidence, "series_id": series_id, "strikes": strikes}
    record_event(
        connection,
        at=now,
        site_id=space.site_id,
        space_id=space.space_id,
        booking_id=booking_id,
        kind="series_strike",
        detail=f"{strikes} no-show(s) in a row",
        evidence=base,
    )
    if not series_should_be_cancelled(strikes=strikes, policy=policy):
        return ["series_strike"]
    reason = f"{strikes} no-shows in a row"
    with translated_errors("cancelling a series"):
        connection.execute(
            "UPDATE booking_series SET cancelled_at = %s, cancel_reason = %s WHERE id = %s", (now, reason, series_id)
        )
        cursor = connection.execute(
            "UPDATE booking SET status = 'cancelled', cancelled_at = %s, updated_at = %s"
            " WHERE series_id = %s AND status = 'confirmed' AND lower(during) > %s RETURNING id",
            (now, now, series_id, now),
        )
        cancelled = [int(r[0]) for r in cursor.fetchall()]
    notice_id, _token = create_notice(
        connection,
        account_id=owner_id,
        at=now,
        kind="series_cancelled",
        text=series_cancelled_notice(space.name, strikes, len(cancelled)),
        booking_id=booking_id,
    )
    for occurrence in cancelled:
        record_event(
            connection,
            at=now,
            site_id=space.site_id,
            space_id=space.space_id,
            booking_id=occurrence,
            kind="series_cancelled",
            detail=reason,
            evidence={**base, "after_release_of": booking_id, "notice_id": notice_id},
        )
    return ["series_strike", "series_cancelled"]
