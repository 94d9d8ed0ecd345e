"""What the bookings and waitlist routes share: the per-object check every booking id goes through, the bookable
space and the owner a request names, the booking limits from the settings, and ``release_at``.

A booking the caller may not see answers 404 exactly like one that does not exist (its existence is not revealed);
the dependency runs before the request body is read, so no route can answer anything else first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import Depends

from devices.site import Belt, Site, Space
from server.api.booking_models import BookingPublic, booking_public
from server.api.deps import AccountDep, ConnectionDep
from server.db.accounts import account_by_login
from server.db.bookings import BookingNotFound, BookingRecord, get_booking
from server.db.policies import load_policy
from server.db.waitlist_offers import SpaceRef
from server.domain.accounts import Account, Role, may_see_booking, require
from server.domain.bookings import BookingLimits, NotFound
from server.domain.release import release_at
from server.domain.release_types import BookingFacts, BookingStatus, ReleasePolicy
from server.settings import ServerSettings

# The error answers of the booking routes, for the OpenAPI description.
BOOKING_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "code forbidden: the caller may see it but not do this"},
    404: {"description": "code not_found: no such booking, or one the caller may not see"},
    409: {"description": "code slot_taken: another booking holds the slot (the detail names its start and end)"},
    422: {"description": "a booking rule refuses it (the code names the rule)"},
}


def get_visible_booking(booking_id: int, account: AccountDep, connection: ConnectionDep) -> BookingRecord:
    booking = get_booking(connection, booking_id)
    if booking is None or not may_see_booking(account, owner_id=booking.owner_id, site_id=booking.site_id):
        raise BookingNotFound(f"no booking {booking_id}")
    return booking


VisibleBookingDep = Annotated[BookingRecord, Depends(get_visible_booking)]


def booking_limits(settings: ServerSettings) -> BookingLimits:
    return BookingLimits(
        grid=timedelta(minutes=settings.booking_grid_min),
        max_length=timedelta(hours=settings.max_booking_h),
        horizon={
            Role.RESIDENT: timedelta(days=settings.resident_booking_horizon_days),
            Role.ORGANISER: timedelta(days=settings.organiser_booking_horizon_days),
        },
        quota={
            Role.RESIDENT: settings.resident_max_active_bookings,
            Role.ORGANISER: settings.organiser_max_active_bookings,
        },
    )


def site_and_space(belt: Belt, site_id: str, space_id: str) -> tuple[Site, Space]:
    try:
        site = belt.site(site_id)
        return site, site.space(space_id)
    except KeyError:
        raise NotFound(f"no space {space_id!r} at site {site_id!r}") from None


def space_ref(belt: Belt, site_id: str, space_id: str) -> SpaceRef:
    _site, space = site_and_space(belt, site_id, space_id)
    return SpaceRef(site_id, space.id, space.name, space.capacity, belt.tz)


def requested_owner(connection: psycopg.Connection, caller: Account, login: str | None) -> Account:
    """The account a booking or waitlist entry is for: the caller, or (staff and administrators) the one named."""
    require(caller.role is not Role.SERVICE, "service identities check bookings in; they do not book")
    if login is None or login == caller.login:
        return caller
    require(caller.acts_for_others, "only staff and administrators book for somebody else")
    found = account_by_login(connection, login)
    if found is None:
        raise NotFound(f"no account {login!r}")
    owner = found[0]
    require(owner.role is not Role.SERVICE, f"{login} is a service identity and cannot hold bookings")
    return owner


class ReleaseTimes:
    """``release_at`` of bookings, reading each space's policy once per request."""

    def __init__(self, connection: psycopg.Connection, settings: ServerSettings) -> None:
        self._connection = connection
        self._default_mode = settings.release_default_mode
        self._policies: dict[tuple[str, str], ReleasePolicy] = {}

    def policy(self, site_id: str, space_id: str) -> ReleasePolicy:
        key = (site_id, space_id)
        if key not in self._policies:
            self._policies[key] = load_policy(self._connection, site_id, space_id, self._default_mode)
        return self._policies[key]

    def release_at(self, booking: BookingRecord) -> datetime | None:
        if booking.status != BookingStatus.CONFIRMED or booking.checked_in_at is not None:
            return None
        facts = BookingFacts(
            id=booking.id,
            owner_id=booking.owner_id,
            start=booking.start,
            end=booking.end,
            status=BookingStatus.CONFIRMED,
            confirmed_at=booking.confirmed_at,
            kept_at=booking.kept_at,
        )
        return release_at(facts, self.policy(booking.site_id, booking.space_id))

    def public(self, booking: BookingRecord) -> BookingPublic:
        return booking_public(booking, release_at=self.release_at(booking))
