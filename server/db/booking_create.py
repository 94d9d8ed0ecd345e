"""Creating bookings: one, or a recurring series, in the caller's transaction, idempotent by (owner, external_ref).

The owner's account row is locked first, so that the quota counts the owner's bookings exactly however many
requests arrive at once; then the space's schedule row; then each occurrence is inserted under a SAVEPOINT, and the
exclusion constraint decides whether its slot is free (server/db/bookings.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import psycopg
from psycopg.types.json import Jsonb

from devices.site import Space
from server.db.bookings import (
    BookingRecord,
    SlotTaken,
    active_bookings_held,
    booking_by_ref,
    get_booking,
    record_booking_event,
    slot_taken,
)
from server.db.errors import DatabaseError, translated_errors
from server.db.schedule import pull_schedule_forward
from server.domain.accounts import Account
from server.domain.bookings import (
    BookingLimits,
    BookingRuleError,
    Recurrence,
    RuleCode,
    check_quota,
    check_slot,
    expand_recurrence,
)


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """What a caller asks for; ``recurrence`` None: one booking."""

    site_id: str
    space: Space
    tz: tzinfo
    start: datetime
    end: datetime
    attendees: int
    title: str = ""
    external_ref: str | None = None
    recurrence: Recurrence | None = None
    skip_conflicts: bool = False


@dataclass(frozen=True, slots=True)
class Skipped:
    start: datetime
    end: datetime
    code: str


@dataclass(frozen=True, slots=True)
class Created:
    """The bookings made (or, ``existing``, the one an earlier request with the same external_ref made)."""

    bookings: list[BookingRecord]
    series_id: int | None = None
    skipped: list[Skipped] = field(default_factory=list)
    existing: bool = False


def create_bookings(
    connection: psycopg.Connection,
    *,
    request: BookingRequest,
    owner: Account,
    actor: Account,
    limits: BookingLimits,
    now: datetime,
) -> Created:
    """One booking or a recurring series, all in the caller's transaction: either every occurrence is booked or,
    with ``skip_conflicts``, those taken or outside opening hours are skipped (and listed)."""
    if request.external_ref is not None and request.recurrence is not None:
        raise BookingRuleError(RuleCode.BAD_RECURRENCE, "external_ref names one booking; a series cannot have one")
    if request.external_ref is not None:
        existing = booking_by_ref(connection, owner_id=owner.id, external_ref=request.external_ref)
        if existing is not None:
            return Created([existing], existing.series_id, existing=True)
    with translated_errors("locking an account"):
        connection.execute("SELECT 1 FROM account WHERE id = %s FOR NO KEY UPDATE", (owner.id,))
    occurrences, skipped = _occurrences(request, actor=actor, limits=limits, now=now)
    pull_schedule_forward(connection, site_id=request.site_id, space_id=request.space.id, due_at=now)
    series_id = None if request.recurrence is None else _new_series(connection, request, owner, actor, now)
    made: list[BookingRecord] = []
    for start, end in occurrences:
        try:
            booking_id = _insert(connection, request, start, end, owner, actor, series_id, now)
        except SlotTaken:
            if request.recurrence is None or not request.skip_conflicts:
                raise
            skipped.append(Skipped(start, end, "slot_taken"))
            continue
        except _RefTaken:
            # The same request, retried concurrently, got there first.
            assert request.external_ref is not None
            existing = booking_by_ref(connection, owner_id=owner.id, external_ref=request.external_ref)
            assert existing is not None
            return Created([existing], existing.series_id, existing=True)
        record = get_booking(connection, booking_id)
        assert record is not None
        made.append(record)
        record_booking_event(connection, record, "created", actor, now, detail=_range_text(start, end), evidence={})
    if not made:
        first = skipped[0]
        raise (
            SlotTaken(first.start, first.end)
            if first.code == "slot_taken"
            else BookingRuleError(RuleCode(first.code), "no occurrence of the series fits the space's opening hours")
        )
    held = active_bookings_held(connection, owner_id=owner.id, now=now) - len(made)
    check_quota(owner_role=owner.role, held=held, adding=len(made), limits=limits)
    return Created(made, series_id, sorted(skipped, key=lambda s: s.start))


def _occurrences(
    request: BookingRequest, *, actor: Account, limits: BookingLimits, now: datetime
) -> tuple[list[tuple[datetime, datetime]], list[Skipped]]:
    if request.recurrence is None:
        wanted = [(request.start, request.end)]
    else:
        horizon = limits.horizon.get(actor.role)
        wanted = expand_recurrence(
            start=request.start, end=request.end, recurrence=request.recurrence, tz=request.tz, now=now, horizon=horizon
        )
    fitting, skipped = [], []
    for start, end in wanted:
        try:
            check_slot(
                space=request.space,
                tz=request.tz,
                start=start,
                end=end,
                attendees=request.attendees,
                now=now,
                limits=limits,
                booker_role=actor.role,
            )
        except BookingRuleError as broken:
            # A daily series over a closed day skips that day when asked to; any other broken rule refuses all.
            if request.recurrence is None or not request.skip_conflicts or broken.code is not RuleCode.OUTSIDE_HOURS:
                raise
            skipped.append(Skipped(start, end, broken.code.value))
            continue
        fitting.append((start, end))
    return fitting, skipped


class _RefTaken(Exception):
    """The owner's external_ref was stored by a concurrent request."""


def _new_series(
    connection: psycopg.Connection, request: BookingRequest, owner: Account, actor: Account, now: datetime
) -> int:
    assert request.recurrence is not None
    rule = {
        "freq": request.recurrence.freq,
        "interval": request.recurrence.interval,
        "count": request.recurrence.count,
        "until": None if request.recurrence.until is None else request.recurrence.until.isoformat(),
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
    }
    with translated_errors("creating a booking series"):
        row = connection.execute(
            "INSERT INTO booking_series (site_id, space_id, owner_id, created_by, rule, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (request.site_id, request.space.id, owner.id, actor.id, Jsonb(rule), now),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _insert(
    connection: psycopg.Connection,
    request: BookingRequest,
    start: datetime,
    end: datetime,
    owner: Account,
    actor: Account,
    series_id: int | None,
    now: datetime,
) -> int:
    """Insert one confirmed booking under a SAVEPOINT, so that a conflict leaves the transaction usable."""
    try:
        with translated_errors("creating a booking"), connection.transaction():
            row = connection.execute(
                "INSERT INTO booking (site_id, space_id, during, owner_id, created_by, title, attendees, status,"
                " series_id, external_ref, created_at, confirmed_at, updated_at)"
                " VALUES (%s, %s, tstzrange(%s, %s), %s, %s, %s, %s, 'confirmed', %s, %s, %s, %s, %s) RETURNING id",
                (
                    request.site_id,
                    request.space.id,
                    start,
                    end,
                    owner.id,
                    actor.id,
                    request.title,
                    request.attendees,
                    series_id,
                    request.external_ref,
                    now,
                    now,
                    now,
                ),
            ).fetchone()
    except DatabaseError as exc:
        if isinstance(exc.__cause__, psycopg.errors.ExclusionViolation):
            raise slot_taken(connection, request.site_id, request.space.id, start, end) from exc.__cause__
        if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
            raise _RefTaken from exc.__cause__
        raise
    assert row is not None
    return int(row[0])


def _range_text(start: datetime, end: datetime) -> str:
    return f"{start.isoformat()} to {end.isoformat()}"
