"""One bookable space's facts for the release policy at ``now``: its bookings, its policy, what its devices said.

The scheduler (server/release/scheduler.py) and the room-state route load a space the same way, so the state a
person reads and the decision the scheduler takes rest on the same evidence. ``now`` is the server's clock; device
readings keep the devices' wall times in the database and are brought onto the server's clock here
(``clock.from_wall``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import tuple_row

from devices.site import OCCUPANCY_MODELS, Site
from server.clock import Clock
from server.db.errors import translated_errors
from server.db.policies import load_policy
from server.domain.release_types import (
    BOOKINGS_AHEAD,
    BOOKINGS_BEHIND,
    EVIDENCE_LOOKBACK,
    BadgeIn,
    BookingFacts,
    BookingStatus,
    PolicyMode,
    ReleasePolicy,
    SensorReading,
    SpaceEvidence,
    UnbookedUse,
)

# Devices whose card reads show people at a space's door (access.v1 events), and the room panels that show release
# warnings (the display command of devices/commands.py).
DOOR_MODELS = frozenset({"modbus-door-controller"})
DISPLAY_MODELS = frozenset({"ditel-led-board", "mqtt-display-board"})

_BOOKING_COLUMNS = (
    "id, owner_id, lower(during), upper(during), status, confirmed_at, checked_in_at, warned_at, kept_at,"
    " released_at, hold_expires_at, released_from, series_id, shadow_release_at, shadow_false_at"
)


@dataclass(frozen=True, slots=True)
class SpaceFacts:
    """Everything :func:`server.domain.release.evaluate_space` needs about one space."""

    site_id: str
    space_id: str
    policy: ReleasePolicy
    bookings: tuple[BookingFacts, ...]
    evidence: SpaceEvidence


def occupancy_sensors(site: Site, space_id: str) -> tuple[str, ...]:
    return tuple(d.id for d in site.devices_in(space_id) if d.model in OCCUPANCY_MODELS)


def door_devices(site: Site, space_id: str) -> tuple[str, ...]:
    return tuple(d.id for d in site.devices_in(space_id) if d.model in DOOR_MODELS)


def display_devices(site: Site, space_id: str) -> tuple[str, ...]:
    return tuple(d.id for d in site.devices_in(space_id) if d.model in DISPLAY_MODELS)


def load_space_facts(
    connection: psycopg.Connection,
    *,
    site: Site,
    space_id: str,
    now: datetime,
    clock: Clock,
    stale_after: timedelta,
    default_mode: PolicyMode | str,
) -> SpaceFacts:
    """The space's bookings around ``now`` (any status), its policy and its devices' evidence, in the caller's
    transaction (the scheduler holds the space's room_schedule row meanwhile)."""
    policy = load_policy(connection, site.id, space_id, default_mode)
    bookings = space_bookings(connection, site_id=site.id, space_id=space_id, now=now)
    sensors = occupancy_sensors(site, space_id)
    wall_from, wall_now = clock.to_wall(now - EVIDENCE_LOOKBACK), clock.to_wall(now)
    readings = _readings(
        connection, site_id=site.id, space_id=space_id, sensors=sensors, wall_from=wall_from, wall_now=wall_now
    )
    badge_ins = _badge_ins(
        connection, site_id=site.id, doors=door_devices(site, space_id), wall_from=wall_from, wall_now=wall_now
    )
    evidence = SpaceEvidence(
        sensors=sensors,
        readings=tuple(SensorReading(device, clock.from_wall(ts), people, seq) for device, ts, people, seq in readings),
        badge_ins=tuple(BadgeIn(device, clock.from_wall(ts)) for device, ts in badge_ins),
        stale_after=stale_after,
        unbooked_use=open_unbooked_use(connection, site_id=site.id, space_id=space_id),
    )
    return SpaceFacts(site.id, space_id, policy, bookings, evidence)


def space_bookings(
    connection: psycopg.Connection, *, site_id: str, space_id: str, now: datetime
) -> tuple[BookingFacts, ...]:
    """Bookings of the space overlapping [now - BOOKINGS_BEHIND, now + BOOKINGS_AHEAD), whatever their status."""
    with translated_errors("reading a space's bookings"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            f"SELECT {_BOOKING_COLUMNS} FROM booking WHERE site_id = %s AND space_id = %s"
            " AND during && tstzrange(%s, %s) ORDER BY lower(during), id",
            (site_id, space_id, now - BOOKINGS_BEHIND, now + BOOKINGS_AHEAD),
        )
        rows = cursor.fetchall()
    return tuple(
        BookingFacts(
            id=row[0],
            owner_id=row[1],
            start=row[2],
            end=row[3],
            status=BookingStatus(row[4]),
            confirmed_at=row[5],
            checked_in_at=row[6],
            warned_at=row[7],
            kept_at=row[8],
            released_at=row[9],
            hold_expires_at=row[10],
            released_from=row[11],
            series_id=row[12],
            shadow_release_at=row[13],
            shadow_false_at=row[14],
        )
        for row in rows
    )


def _readings(
    connection: psycopg.Connection,
    *,
    site_id: str,
    space_id: str,
    sensors: tuple[str, ...],
    wall_from: datetime,
    wall_now: datetime,
) -> list[tuple[str, datetime, int, int]]:
    """(device, wall ts, people, seq): every reading of the sensors in [wall_from, wall_now], plus each sensor's newest
    one before wall_from (a sensor silent since long ago then reads as stale, not as never installed). Readings
    stamped after ``wall_now`` are not evidence yet. Each query walks occupancy_reading_space_device_ts_idx."""
    if not sensors:
        return []
    with translated_errors("reading a space's occupancy evidence"), connection.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT device_id, ts, people, seq FROM occupancy_reading WHERE site_id = %s AND space_id = %s"
            " AND device_id = ANY(%s) AND ts >= %s AND ts <= %s",
            (site_id, space_id, list(sensors), wall_from, wall_now),
        )
        window = cur.fetchall()
        cur.execute(
            "SELECT d.id, r.ts, r.people, r.seq FROM unnest(%s::text[]) AS d(id) CROSS JOIN LATERAL ("
            " SELECT ts, people, seq FROM occupancy_reading WHERE site_id = %s AND space_id = %s AND device_id = d.id"
            " AND ts < %s ORDER BY ts DESC, seq DESC LIMIT 1) AS r",
            (list(sensors), site_id, space_id, wall_from),
        )
        before = cur.fetchall()
    return [(str(d), ts, int(p), int(q)) for d, ts, p, q in [*before, *window]]


def _badge_ins(
    connection: psycopg.Connection, *, site_id: str, doors: tuple[str, ...], wall_from: datetime, wall_now: datetime
) -> list[tuple[str, datetime]]:
    """(door, wall ts) of every card read (access.v1) at the space's doors in [wall_from, wall_now]."""
    if not doors:
        return []
    with translated_errors("reading a space's card reads"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT device_id, ts FROM device_event WHERE site_id = %s AND kind = 'access'"
            " AND device_id = ANY(%s) AND ts >= %s AND ts <= %s ORDER BY ts",
            (site_id, list(doors), wall_from, wall_now),
        )
        return [(str(device), ts) for device, ts in cursor.fetchall()]


def open_unbooked_use(connection: psycopg.Connection, *, site_id: str, space_id: str) -> UnbookedUse | None:
    with translated_errors("reading a space's unbooked use"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT id, started_at, peak_people FROM unbooked_use"
            " WHERE site_id = %s AND space_id = %s AND ended_at IS NULL",
            (site_id, space_id),
        )
        row = cursor.fetchone()
    return None if row is None else UnbookedUse(int(row[0]), row[1], int(row[2]))
