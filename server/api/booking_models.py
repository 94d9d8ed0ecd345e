"""The bookings and waitlist API's model families (BookingCreate, BookingChange, BookingPublic, ...).

Times are RFC 3339 in and out; they leave the API in UTC. ``release_at`` in BookingPublic says when a booking
nobody has checked in to will be released under its space's policy (null when that cannot happen: the policy is
off, the booking was kept, is exempt by its length, or is not waiting for its people).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_serializer

from server.db.bookings import BookingRecord, HistoryEntry
from server.db.waitlist import WaitlistRecord


class _Out(BaseModel):
    """Times leave in UTC whatever zone the database session returned them in."""

    @field_serializer("*", mode="wrap", when_used="json")
    def _utc(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        return handler(value.astimezone(UTC) if isinstance(value, datetime) else value)


class AccountRef(BaseModel):
    id: int
    login: str
    display_name: str


class RecurrenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    freq: Literal["daily", "weekly"]
    interval: int = Field(default=1, ge=1, le=52)
    count: int | None = Field(default=None, ge=1, le=52, description="occurrences; or give until")
    until: date | None = Field(default=None, description="the last local date an occurrence may fall on")


class BookingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str
    space: str
    start: AwareDatetime
    end: AwareDatetime
    attendees: int = Field(ge=1, le=10_000)
    title: str = Field(default="", max_length=200)
    owner: str | None = Field(default=None, description="login of the owner (staff and administrators only)")
    external_ref: str | None = Field(default=None, min_length=1, max_length=200)
    recurrence: RecurrenceIn | None = None
    skip_conflicts: bool = False


class BookingChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    attendees: int | None = Field(default=None, ge=1, le=10_000)
    title: str | None = Field(default=None, max_length=200)


class CheckInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["api", "panel", "qr"] = "api"


class BookingPublic(_Out):
    id: int
    site: str
    space: str
    start: datetime
    end: datetime
    attendees: int
    title: str
    owner: AccountRef
    status: str
    series_id: int | None
    external_ref: str | None
    created_at: datetime
    checked_in_at: datetime | None
    check_in_source: str | None
    warned_at: datetime | None
    kept_at: datetime | None
    released_at: datetime | None
    ended_at: datetime | None
    cancelled_at: datetime | None
    hold_expires_at: datetime | None
    release_at: datetime | None


class SkippedPublic(_Out):
    start: datetime
    end: datetime
    code: str


class SeriesPublic(BaseModel):
    series_id: int
    bookings: list[BookingPublic]
    skipped: list[SkippedPublic]


class HistoryEntryPublic(_Out):
    at: datetime
    kind: str
    actor: AccountRef | None
    on_behalf_of: AccountRef | None
    mode: str
    detail: str
    evidence: dict[str, Any]


class Span(_Out):
    start: datetime
    end: datetime


class BusySpan(_Out):
    start: datetime
    end: datetime
    status: str
    owner: AccountRef | None = Field(description="staff only")


class AvailabilityPublic(BaseModel):
    opening: list[Span]
    busy: list[BusySpan]


class WaitlistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str
    space: str
    start: AwareDatetime
    end: AwareDatetime
    attendees: int = Field(ge=1, le=10_000)
    min_minutes: int = Field(default=30, ge=5, le=1440, description="the shortest part of the range worth offering")
    owner: str | None = Field(default=None, description="login of the owner (staff and administrators only)")


class WaitlistPublic(_Out):
    id: int
    site: str
    space: str
    start: datetime
    end: datetime
    attendees: int
    min_minutes: int
    status: str
    offered_booking_id: int | None
    created_at: datetime


def owner_ref(booking: BookingRecord) -> AccountRef:
    return AccountRef(id=booking.owner_id, login=booking.owner_login, display_name=booking.owner_display_name)


def booking_public(booking: BookingRecord, *, release_at: datetime | None) -> BookingPublic:
    return BookingPublic(
        id=booking.id,
        site=booking.site_id,
        space=booking.space_id,
        start=booking.start,
        end=booking.end,
        attendees=booking.attendees,
        title=booking.title,
        owner=owner_ref(booking),
        status=booking.status,
        series_id=booking.series_id,
        external_ref=booking.external_ref,
        created_at=booking.created_at,
        checked_in_at=booking.checked_in_at,
        check_in_source=booking.check_in_source,
        warned_at=booking.warned_at,
        kept_at=booking.kept_at,
        released_at=booking.released_at,
        ended_at=booking.ended_at,
        cancelled_at=booking.cancelled_at,
        hold_expires_at=booking.hold_expires_at,
        release_at=release_at,
    )


def history_public(entry: HistoryEntry) -> HistoryEntryPublic:
    def ref(id_: int | None, login: str | None, name: str | None) -> AccountRef | None:
        return (
            None if id_ is None or login is None or name is None else AccountRef(id=id_, login=login, display_name=name)
        )

    return HistoryEntryPublic(
        at=entry.at,
        kind=entry.kind,
        actor=ref(entry.actor_id, entry.actor_login, entry.actor_display_name),
        on_behalf_of=ref(entry.on_behalf_of_id, entry.on_behalf_of_login, entry.on_behalf_of_display_name),
        mode=entry.mode,
        detail=entry.detail,
        evidence=entry.evidence,
    )


def waitlist_public(entry: WaitlistRecord) -> WaitlistPublic:
    return WaitlistPublic(
        id=entry.id,
        site=entry.site_id,
        space=entry.space_id,
        start=entry.start,
        end=entry.end,
        attendees=entry.attendees,
        min_minutes=entry.min_minutes,
        status=entry.status,
        offered_booking_id=entry.offered_booking_id,
        created_at=entry.created_at,
    )
