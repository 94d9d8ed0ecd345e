"""Release figures per space over a time range, from the bookings and their audit trail (``booking_event``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import translated_errors

# Bookings counted: those that started in the range and held the room for somebody. Cancelled bookings and waitlist
# offers nobody took (held, expired, withdrawn) are not; an accepted offer is a booking like any other.
_NOT_COUNTED = ["held", "expired", "withdrawn", "cancelled"]


@dataclass(frozen=True, slots=True)
class SpaceReleaseFigures:
    space_id: str
    bookings: int = 0
    checked_in: int = 0  # somebody came (checked in, or came back after a release)
    released: int = 0  # released by the policy (an undone release counts too: it was made)
    undone: int = 0
    ended_early: int = 0
    would_release: int = 0  # shadow mode: the policy would have released it
    shadow_false_releases: int = 0  # ... and people came afterwards


def release_figures(
    connection: psycopg.Connection, *, site_id: str, start: datetime, end: datetime
) -> dict[str, SpaceReleaseFigures]:
    """Figures per space of the site for the bookings that started in [start, end); spaces with none are absent."""

    def decided(kind: str) -> str:
        return f"EXISTS (SELECT 1 FROM booking_event e WHERE e.booking_id = b.id AND e.kind = '{kind}')"

    with translated_errors("reading release figures"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT space_id, count(*), count(*) FILTER (WHERE checked_in), count(*) FILTER (WHERE released),"
            " count(*) FILTER (WHERE undone), count(*) FILTER (WHERE ended_early),"
            " count(*) FILTER (WHERE would_release), count(*) FILTER (WHERE shadow_false)"
            " FROM (SELECT b.space_id, b.checked_in_at IS NOT NULL AS checked_in,"
            f" {decided('released')} AS released, {decided('undone')} AS undone,"
            f" {decided('ended_early')} AS ended_early, {decided('would_release')} AS would_release,"
            f" {decided('shadow_false_release')} AS shadow_false"
            " FROM booking b WHERE b.site_id = %s AND lower(b.during) >= %s AND lower(b.during) < %s"
            " AND b.status <> ALL(%s)) AS f GROUP BY space_id",
            (site_id, start, end, _NOT_COUNTED),
        )
        rows = cursor.fetchall()
    return {str(row[0]): SpaceReleaseFigures(str(row[0]), *(int(n) for n in row[1:])) for row in rows}
