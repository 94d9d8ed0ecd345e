"""``smartcomplex score releases --truth FILE``: the release policy's decisions on a scenario day, read from the
database and scored against the day's ground truth (server/scoring/release_score.py), printed as JSON.

Exit codes: 0 when it could score (the figures are printed however bad they are), 2 for a bad truth file (one
line), 1 when the database is unreachable (DatabaseError, reported by the command line).
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import translated_errors
from server.db.policies import load_policy
from server.domain.release_types import PolicyMode, ReleasePolicy
from server.scoring.release_score import StoredBooking, StoredEvent, score_releases
from server.scoring.truth import Truth, TruthError, read_truth

# Events the scoring reads; those not tied to a scenario booking (holds offered, releases of other bookings) only
# within the run's span: from its start to its end (a whole day when the truth runs to the end of the day).
SCORED_KINDS = ("released", "undone", "ended_early", "hold_offered")
WHOLE_DAY = timedelta(days=1)
CONNECT_TIMEOUT_S = 10


def load_scoring_rows(
    connection: psycopg.Connection, truth: Truth, *, default_mode: PolicyMode | str
) -> tuple[list[StoredBooking], list[StoredEvent], dict[tuple[str, str], ReleasePolicy]]:
    """The truth's bookings as stored (by external_ref), the audit events that score them, and the bookable
    spaces' policies."""
    refs = [booking.id for booking in truth.bookings]
    sites = list(truth.sites)
    until = truth.until if truth.until is not None else truth.begin + WHOLE_DAY
    with translated_errors("reading bookings to score"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT id, external_ref, site_id, space_id, status FROM booking"
            " WHERE external_ref = ANY(%s) AND site_id = ANY(%s)",
            (refs, sites),
        )
        bookings = [StoredBooking(int(r[0]), r[1], str(r[2]), str(r[3]), str(r[4])) for r in cursor.fetchall()]
        cursor.execute(
            "SELECT booking_id, site_id, space_id, at, kind, mode FROM booking_event"
            " WHERE kind = ANY(%s) AND (booking_id = ANY(%s) OR (site_id = ANY(%s) AND at >= %s AND at < %s))",
            (list(SCORED_KINDS), [b.id for b in bookings], sites, truth.begin, until),
        )
        events = [
            StoredEvent(None if r[0] is None else int(r[0]), str(r[1]), str(r[2]), r[3], str(r[4]), str(r[5]))
            for r in cursor.fetchall()
        ]
    policies = {
        (site, space): load_policy(connection, site, space, default_mode) for site, space in truth.bookable_spaces
    }
    return bookings, events, policies


def score_from_database(
    truth: Truth,
    database_url: str,
    *,
    default_mode: PolicyMode | str,
    latency_allowance: timedelta = timedelta(0),
) -> dict[str, Any]:
    """The figures of ``truth`` against the database at ``database_url``; DatabaseError when it cannot be read."""
    with translated_errors("connecting to the database"):
        connection = psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_S)
    with connection:
        bookings, events, policies = load_scoring_rows(connection, truth, default_mode=default_mode)
    return score_releases(
        truth, bookings=bookings, events=events, policies=policies, latency_allowance=latency_allowance
    )


def run_score_releases(
    truth_path: Path,
    database_url: str,
    *,
    default_mode: PolicyMode | str,
    latency_allowance: timedelta = timedelta(0),
) -> int:
    try:
        truth = read_truth(truth_path)
    except TruthError as exc:
        print(f"smartcomplex: bad truth file {truth_path}: {exc}", file=sys.stderr)
        return 2
    figures = score_from_database(truth, database_url, default_mode=default_mode, latency_allowance=latency_allowance)
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    return 0
