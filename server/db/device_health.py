"""Device health as the edge reports it: the newest status per device, and a row for every change of state.

Status reports are retained on the broker and sent again after every reconnect, so the same report often arrives
twice: recording it again changes nothing. A report older than the stored one (by ``reported_at``, when both have
it) is ignored, so a late, out-of-order copy cannot overwrite newer health.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from devices.device_status import HealthState
from server.db.errors import translated_errors


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One status report of a device (``device_id`` ``_agent`` for the site's edge agent) as received."""

    site_id: str
    device_id: str
    state: HealthState
    since: datetime | None
    last_seen: datetime | None
    detail: str
    reported_at: datetime | None
    received_at: datetime

    def __post_init__(self) -> None:
        for name in ("since", "last_seen", "reported_at", "received_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")

    @property
    def changed_at(self) -> datetime:
        """When the device entered this state, as well as the report tells."""
        return self.since or self.reported_at or self.received_at


@dataclass(frozen=True, slots=True)
class StatusChange:
    site_id: str
    device_id: str
    previous_state: str | None  # None: the device's first report
    state: str
    changed_at: datetime


_CURRENT = "SELECT state, reported_at FROM device_status WHERE site_id = %s AND device_id = %s FOR UPDATE"
_UPSERT = """
INSERT INTO device_status (site_id, device_id, state, since, last_seen, detail, reported_at, received_at)
VALUES (%(site_id)s, %(device_id)s, %(state)s, %(since)s, %(last_seen)s, %(detail)s, %(reported_at)s,
        %(received_at)s)
ON CONFLICT (site_id, device_id) DO UPDATE
   SET state = EXCLUDED.state, since = EXCLUDED.since, last_seen = EXCLUDED.last_seen, detail = EXCLUDED.detail,
       reported_at = EXCLUDED.reported_at, received_at = EXCLUDED.received_at
"""
_CHANGE = """
INSERT INTO device_status_change (site_id, device_id, state, previous_state, changed_at, detail, received_at)
VALUES (%(site_id)s, %(device_id)s, %(state)s, %(previous_state)s, %(changed_at)s, %(detail)s, %(received_at)s)
"""


def record_statuses(conn: psycopg.Connection[Any], *, updates: Sequence[StatusUpdate]) -> list[StatusChange]:
    """Apply reports in the order given; returns the changes of state they made. Does not commit.

    A few statements per report: statuses come when a device's health changes and after reconnects, tens at a
    time, never at the rate of readings.
    """
    changes: list[StatusChange] = []
    with translated_errors("record device statuses"), conn.cursor(row_factory=tuple_row) as cur:
        for update in updates:
            # FOR UPDATE: a second writer (another server replica) waits here instead of both seeing the old state.
            current = cur.execute(_CURRENT, (update.site_id, update.device_id)).fetchone()
            previous_state, stored_reported_at = (current[0], current[1]) if current else (None, None)
            if (
                stored_reported_at is not None
                and update.reported_at is not None
                and update.reported_at < stored_reported_at
            ):
                continue  # an older report arriving late
            params = {
                "site_id": update.site_id,
                "device_id": update.device_id,
                "state": update.state,
                "since": update.since,
                "last_seen": update.last_seen,
                "detail": update.detail,
                "reported_at": update.reported_at,
                "received_at": update.received_at,
            }
            cur.execute(_UPSERT, params)
            if previous_state != update.state:
                cur.execute(_CHANGE, {**params, "previous_state": previous_state, "changed_at": update.changed_at})
                changes.append(
                    StatusChange(update.site_id, update.device_id, previous_state, update.state, update.changed_at)
                )
    return changes


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    device_id: str
    state: HealthState
    since: datetime | None
    last_seen: datetime | None
    detail: str
    reported_at: datetime | None
    received_at: datetime


def site_health(conn: psycopg.Connection[Any], *, site_id: str) -> dict[str, DeviceHealth]:
    """The newest status of every device of a site that ever reported one (``_agent`` included), by device id."""
    query = (
        "SELECT device_id, state, since, last_seen, detail, reported_at, received_at"
        " FROM device_status WHERE site_id = %s"
    )
    with translated_errors("read device health"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(query, (site_id,)).fetchall()
    return {row[0]: DeviceHealth(*row) for row in rows}


def status_history(conn: psycopg.Connection[Any], *, site_id: str, device_id: str) -> list[StatusChange]:
    """Every recorded change of one device's state, oldest first."""
    query = (
        "SELECT site_id, device_id, previous_state, state, changed_at FROM device_status_change"
        " WHERE site_id = %s AND device_id = %s ORDER BY changed_at, id"
    )
    with translated_errors("read device status history"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(query, (site_id, device_id)).fetchall()
    return [StatusChange(*row) for row in rows]
