"""Bookings: create (one or a recurring series), list, read, change, cancel.

Residents and organisers see and change their own bookings only; staff and administrators act for anybody at their
sites (recorded with ``on_behalf_of``); a site's service identity sees its bookings and checks them in. A booking
the caller may not see answers 404; one they may see but not change answers 403. Booking times are on the server's
clock (BookingNowDep). Errors: {"detail", "code"} (server/api/errors.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from server.api.booking_deps import (
    BOOKING_ERRORS,
    ReleaseTimes,
    VisibleBookingDep,
    booking_limits,
    requested_owner,
    site_and_space,
)
from server.api.booking_models import BookingChange, BookingCreate, BookingPublic, SeriesPublic, SkippedPublic
from server.api.deps import AccountDep, BeltDep, BookingNowDep, ConnectionDep, SettingsDep
from server.db.accounts import account_by_login
from server.db.booking_changes import BookingEdits, cancel_booking, change_booking
from server.db.booking_create import BookingRequest, create_bookings
from server.db.bookings import list_bookings
from server.domain.accounts import Role, may_change_booking, require
from server.domain.bookings import Recurrence, may_book_recurring
from server.domain.release_types import BookingStatus

router = APIRouter(prefix="/api/v1/bookings", tags=["bookings"])


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={200: {"description": "the existing booking"}, **BOOKING_ERRORS}
)
def create_booking(
    body: BookingCreate,
    response: Response,
    account: AccountDep,
    connection: ConnectionDep,
    belt: BeltDep,
    settings: SettingsDep,
    now: BookingNowDep,
) -> BookingPublic | SeriesPublic:
    """Book a space (201); the same owner's external_ref again answers the existing booking (200)."""
    site, space = site_and_space(belt, body.site, body.space)
    owner = requested_owner(connection, account, body.owner)
    require(account.covers_site(site.id), f"you act for site {account.site_id}, not {site.id}")
    recurrence = None
    if body.recurrence is not None:
        require(may_book_recurring(account.role), "residents book one occurrence at a time")
        recurrence = Recurrence(
            freq=body.recurrence.freq,
            interval=body.recurrence.interval,
            count=body.recurrence.count,
            until=body.recurrence.until,
        )
    request = BookingRequest(
        site_id=site.id,
        space=space,
        tz=belt.tz,
        start=body.start,
        end=body.end,
        attendees=body.attendees,
        title=body.title,
        external_ref=body.external_ref,
        recurrence=recurrence,
        skip_conflicts=body.skip_conflicts,
    )
    created = create_bookings(
        connection, request=request, owner=owner, actor=account, limits=booking_limits(settings), now=now
    )
    times = ReleaseTimes(connection, settings)
    answer: BookingPublic | SeriesPublic
    if created.series_id is None or created.existing:
        answer = times.public(created.bookings[0])
    else:
        answer = SeriesPublic(
            series_id=created.series_id,
            bookings=[times.public(booking) for booking in created.bookings],
            skipped=[SkippedPublic(start=s.start, end=s.end, code=s.code) for s in created.skipped],
        )
    connection.commit()
    if created.existing:
        response.status_code = status.HTTP_200_OK
    return answer


@router.get("")
def read_bookings(
    account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    site: str | None = None,
    space: str | None = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from", description="overlapping [from, to)")] = None,
    to: AwareDatetime | None = None,
    status_: Annotated[list[BookingStatus] | None, Query(alias="status", description="repeat for several")] = None,
    owner: Annotated[str | None, Query(description="login (staff and administrators)")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[BookingPublic]:
    """Bookings by start: residents and organisers get their own, a service identity its site's, staff all."""
    owner_id = None
    if account.role in (Role.RESIDENT, Role.ORGANISER):
        require(owner is None or owner == account.login, "you see your own bookings only")
        owner_id = account.id
    elif owner is not None:
        require(account.acts_for_others, "only staff and administrators filter by owner")
        found = account_by_login(connection, owner)
        if found is None:
            return []
        owner_id = found[0].id
    if account.role not in (Role.RESIDENT, Role.ORGANISER) and account.site_id is not None:
        require(site is None or site == account.site_id, f"you act for site {account.site_id}, not {site}")
        site = account.site_id
    bookings = list_bookings(
        connection,
        site_id=site,
        space_id=space,
        overlapping=(from_, to),
        statuses=tuple(s.value for s in status_ or ()),
        owner_id=owner_id,
        limit=limit,
    )
    times = ReleaseTimes(connection, settings)
    return [times.public(booking) for booking in bookings]


@router.get("/{booking_id}", responses=BOOKING_ERRORS)
def read_booking(booking: VisibleBookingDep, connection: ConnectionDep, settings: SettingsDep) -> BookingPublic:
    return ReleaseTimes(connection, settings).public(booking)


@router.patch("/{booking_id}", responses=BOOKING_ERRORS)
def change_one_booking(
    booking: VisibleBookingDep,
    body: BookingChange,
    account: AccountDep,
    connection: ConnectionDep,
    belt: BeltDep,
    settings: SettingsDep,
    now: BookingNowDep,
) -> BookingPublic:
    """Move, resize or retitle a booking; the booking rules and the slot are checked again."""
    require(may_change_booking(account, owner_id=booking.owner_id, site_id=booking.site_id), "not your booking")
    _site, space = site_and_space(belt, booking.site_id, booking.space_id)
    edits = BookingEdits(start=body.start, end=body.end, attendees=body.attendees, title=body.title)
    changed = change_booking(
        connection,
        booking=booking,
        edits=edits,
        space=space,
        tz=belt.tz,
        actor=account,
        limits=booking_limits(settings),
        now=now,
    )
    public = ReleaseTimes(connection, settings).public(changed)
    connection.commit()
    return public


@router.delete("/{booking_id}", responses=BOOKING_ERRORS)
def cancel_one_booking(
    booking: VisibleBookingDep,
    account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    now: BookingNowDep,
) -> BookingPublic:
    """Cancel a booking (its slot is free at once); answers it with status cancelled."""
    require(may_change_booking(account, owner_id=booking.owner_id, site_id=booking.site_id), "not your booking")
    cancelled = cancel_booking(connection, booking=booking, actor=account, now=now)
    public = ReleaseTimes(connection, settings).public(cancelled)
    connection.commit()
    return public
