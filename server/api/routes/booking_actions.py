"""What happens to a booking after it is made: check-in, "keep it", a waitlist offer accepted or declined, a
release undone, and the booking's audit trail.

The same per-object rule as server/api/routes/bookings.py: 404 for a booking the caller may not see, 403 for one
they may see but not act on. Check-in is also open to the site's service identity (a room panel, a QR reader).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol

import psycopg
from fastapi import APIRouter, Body

from devices.site import Belt
from server.api.booking_deps import BOOKING_ERRORS, ReleaseTimes, VisibleBookingDep, space_ref
from server.api.booking_models import BookingPublic, CheckInRequest, HistoryEntryPublic, history_public
from server.api.deps import AccountDep, BeltDep, BookingNowDep, ConnectionDep, SettingsDep
from server.db.booking_changes import check_in, keep_booking
from server.db.booking_holds import accept_offer, decline_offer, undo_release
from server.db.bookings import BookingRecord, booking_history
from server.db.waitlist_offers import SpaceRef
from server.domain.accounts import Account, may_change_booking, may_check_in, require
from server.domain.release_types import ReleasePolicy
from server.settings import ServerSettings

router = APIRouter(prefix="/api/v1/bookings/{booking_id}", tags=["bookings"], responses=BOOKING_ERRORS)

_NOT_YOURS = "not your booking"


@router.post("/check-in")
def check_in_booking(
    booking: VisibleBookingDep,
    account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    now: BookingNowDep,
    body: Annotated[CheckInRequest | None, Body()] = None,
) -> BookingPublic:
    """Somebody came: allowed from the space policy's checkin_opens before the start until the end."""
    require(may_check_in(account, owner_id=booking.owner_id, site_id=booking.site_id), _NOT_YOURS)
    times = ReleaseTimes(connection, settings)
    policy = times.policy(booking.site_id, booking.space_id)
    source = (body or CheckInRequest()).source
    checked_in = check_in(
        connection, booking=booking, source=source, opens_before=policy.checkin_opens, actor=account, now=now
    )
    public = times.public(checked_in)
    connection.commit()
    return public


@router.post("/keep")
def keep(
    booking: VisibleBookingDep,
    account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    now: BookingNowDep,
) -> BookingPublic:
    """Keep the booking: it is never auto-released."""
    require(may_change_booking(account, owner_id=booking.owner_id, site_id=booking.site_id), _NOT_YOURS)
    kept = keep_booking(connection, booking=booking, actor=account, now=now)
    public = ReleaseTimes(connection, settings).public(kept)
    connection.commit()
    return public


@router.post("/accept")
def accept(
    booking: VisibleBookingDep,
    account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    now: BookingNowDep,
) -> BookingPublic:
    """Take a held waitlist offer: it becomes a confirmed booking (grace counts from now)."""
    require(may_change_booking(account, owner_id=booking.owner_id, site_id=booking.site_id), _NOT_YOURS)
    accepted = accept_offer(connection, booking=booking, actor=account, now=now)
    public = ReleaseTimes(connection, settings).public(accepted)
    connection.commit()
    return public


@router.post("/decline")
def decline(
    booking: VisibleBookingDep,
    account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    belt: BeltDep,
    now: BookingNowDep,
) -> BookingPublic:
    """Turn a held waitlist offer down; the time goes to the next one waiting."""
    return _under_policy(decline_offer, booking, account, connection, settings, belt, now)


@router.post("/undo")
def undo(
    booking: VisibleBookingDep,
    account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    belt: BeltDep,
    now: BookingNowDep,
) -> BookingPublic:
    """Restore a released booking within the policy's undo window, if nobody has accepted its slot (409)."""
    return _under_policy(undo_release, booking, account, connection, settings, belt, now)


class _PolicyChange(Protocol):
    """decline_offer and undo_release: a change that needs the space and its release policy."""

    def __call__(
        self,
        connection: psycopg.Connection,
        *,
        booking: BookingRecord,
        space: SpaceRef,
        policy: ReleasePolicy,
        actor: Account,
        now: datetime,
    ) -> BookingRecord: ...


def _under_policy(
    change: _PolicyChange,
    booking: BookingRecord,
    account: Account,
    connection: psycopg.Connection,
    settings: ServerSettings,
    belt: Belt,
    now: datetime,
) -> BookingPublic:
    require(may_change_booking(account, owner_id=booking.owner_id, site_id=booking.site_id), _NOT_YOURS)
    times = ReleaseTimes(connection, settings)
    changed = change(
        connection,
        booking=booking,
        space=space_ref(belt, booking.site_id, booking.space_id),
        policy=times.policy(booking.site_id, booking.space_id),
        actor=account,
        now=now,
    )
    public = times.public(changed)
    connection.commit()
    return public


@router.get("/history")
def history(booking: VisibleBookingDep, connection: ConnectionDep) -> list[HistoryEntryPublic]:
    """The booking's audit trail, oldest first: who did what, for whom, and the evidence of each decision."""
    return [history_public(entry) for entry in booking_history(connection, booking.id)]
