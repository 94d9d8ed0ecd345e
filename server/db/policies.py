"""Bookable spaces' release policies (``space_policy``): one row per space that does not follow the defaults.

Durations are whole seconds in the table and :class:`~datetime.timedelta` in :class:`ReleasePolicy`. A space with
no row follows ReleasePolicy's defaults in the server's default mode (``SC_RELEASE_DEFAULT_MODE``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import translated_errors
from server.domain.release_types import PolicyMode, ReleasePolicy

_COLUMNS = (
    "mode, grace_s, warn_after_s, checkin_opens_s, undo_window_s, hold_s, end_early_after_s, exempt_longer_than_s,"
    " strikes_to_cancel_series, auto_book_unbooked, release_without_sensor"
)
# The ranges space_policy's CHECK constraints allow (seconds), checked here first for a clear message.
GRACE_S = (60, 7200)
CHECKIN_OPENS_S = (0, 7200)
UNDO_WINDOW_S = (0, 7200)
HOLD_S = (60, 7200)
END_EARLY_AFTER_S = (60, 14400)
STRIKES = (0, 100)
MAX_INT4 = 2**31 - 1


class InvalidPolicy(ValueError):
    """A release policy the table would refuse; the message says which setting and why (HTTP 422)."""


def _seconds(duration: timedelta) -> int:
    return round(duration.total_seconds())


def _in_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise InvalidPolicy(f"{name} must be between {low} and {high}, not {value}")


def check_policy(policy: ReleasePolicy) -> None:
    """Raise InvalidPolicy unless ``policy`` satisfies every CHECK of ``space_policy``."""
    grace = _seconds(policy.grace)
    warn_after = _seconds(policy.warn_after)
    _in_range("grace_s", grace, GRACE_S)
    if warn_after < 0:
        raise InvalidPolicy(f"warn_after_s must not be negative, not {warn_after}")
    if warn_after >= grace:
        raise InvalidPolicy(f"warn_after_s ({warn_after}) must be shorter than grace_s ({grace})")
    _in_range("checkin_opens_s", _seconds(policy.checkin_opens), CHECKIN_OPENS_S)
    _in_range("undo_window_s", _seconds(policy.undo_window), UNDO_WINDOW_S)
    _in_range("hold_s", _seconds(policy.hold), HOLD_S)
    if policy.end_early_after is not None:
        _in_range("end_early_after_s", _seconds(policy.end_early_after), END_EARLY_AFTER_S)
    if policy.exempt_longer_than is not None:
        _in_range("exempt_longer_than_s", _seconds(policy.exempt_longer_than), (1, MAX_INT4))
    _in_range("strikes_to_cancel_series", policy.strikes_to_cancel_series, STRIKES)


def _policy(row: tuple[object, ...]) -> ReleasePolicy:
    (mode, grace, warn_after, checkin_opens, undo_window, hold, end_early, exempt, strikes, auto_book, no_sensor) = row
    return ReleasePolicy(
        mode=PolicyMode(str(mode)),
        grace=timedelta(seconds=int(str(grace))),
        warn_after=timedelta(seconds=int(str(warn_after))),
        checkin_opens=timedelta(seconds=int(str(checkin_opens))),
        undo_window=timedelta(seconds=int(str(undo_window))),
        hold=timedelta(seconds=int(str(hold))),
        end_early_after=None if end_early is None else timedelta(seconds=int(str(end_early))),
        exempt_longer_than=None if exempt is None else timedelta(seconds=int(str(exempt))),
        strikes_to_cancel_series=int(str(strikes)),
        auto_book_unbooked=bool(auto_book),
        release_without_sensor=bool(no_sensor),
    )


def stored_policy(connection: psycopg.Connection, site_id: str, space_id: str) -> ReleasePolicy | None:
    """The space's own policy row; None when it follows the defaults."""
    with translated_errors("reading a release policy"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(f"SELECT {_COLUMNS} FROM space_policy WHERE site_id = %s AND space_id = %s", (site_id, space_id))
        row = cursor.fetchone()
    return None if row is None else _policy(row)


def load_policy(
    connection: psycopg.Connection, site_id: str, space_id: str, default_mode: PolicyMode | str
) -> ReleasePolicy:
    """The space's release policy: its row, or ReleasePolicy's defaults in ``default_mode`` when it has none."""
    policy = stored_policy(connection, site_id, space_id)
    return ReleasePolicy(mode=PolicyMode(default_mode)) if policy is None else policy


def save_policy(
    connection: psycopg.Connection,
    *,
    site_id: str,
    space_id: str,
    policy: ReleasePolicy,
    updated_at: datetime,
    updated_by: int | None,
) -> None:
    """Store the space's policy (insert or replace) in the caller's transaction; InvalidPolicy when out of range."""
    check_policy(policy)

    def optional_seconds(duration: timedelta | None) -> int | None:
        return None if duration is None else _seconds(duration)

    with translated_errors("storing a release policy"):
        connection.execute(
            f"INSERT INTO space_policy (site_id, space_id, {_COLUMNS}, updated_at, updated_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (site_id, space_id) DO UPDATE SET"
            " mode = EXCLUDED.mode, grace_s = EXCLUDED.grace_s, warn_after_s = EXCLUDED.warn_after_s,"
            " checkin_opens_s = EXCLUDED.checkin_opens_s, undo_window_s = EXCLUDED.undo_window_s,"
            " hold_s = EXCLUDED.hold_s, end_early_after_s = EXCLUDED.end_early_after_s,"
            " exempt_longer_than_s = EXCLUDED.exempt_longer_than_s,"
            " strikes_to_cancel_series = EXCLUDED.strikes_to_cancel_series,"
            " auto_book_unbooked = EXCLUDED.auto_book_unbooked,"
            " release_without_sensor = EXCLUDED.release_without_sensor,"
            " updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
            (
                site_id,
                space_id,
                policy.mode.value,
                _seconds(policy.grace),
                _seconds(policy.warn_after),
                _seconds(policy.checkin_opens),
                _seconds(policy.undo_window),
                _seconds(policy.hold),
                optional_seconds(policy.end_early_after),
                optional_seconds(policy.exempt_longer_than),
                policy.strikes_to_cancel_series,
                policy.auto_book_unbooked,
                policy.release_without_sensor,
                updated_at,
                updated_by,
            ),
        )
