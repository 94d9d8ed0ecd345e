"""Waitlists: wait for a space's time range that was taken; released time is offered as a hold to accept.

Residents and organisers see and leave their own entries; staff and administrators see all (filter by site and
space) and act for anybody. An entry the caller may not see answers 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from server.api.booking_deps import BOOKING_ERRORS, ReleaseTimes, requested_owner, site_and_space, space_ref
from server.api.booking_models import WaitlistCreate, WaitlistPublic, waitlist_public
from server.api.deps import AccountDep, BeltDep, BookingNowDep, ConnectionDep, SettingsDep
from server.db.waitlist import WaitlistEntryNotFound, get_entry, join_waitlist, leave_waitlist, list_entries
from server.domain.accounts import may_change_booking, may_see_booking, require

router = APIRouter(prefix="/api/v1/waitlist", tags=["waitlist"], responses=BOOKING_ERRORS)

WaitlistStatus = Literal["waiting", "offered", "booked", "expired", "cancelled"]


@router.post("", status_code=status.HTTP_201_CREATED)
def join(
    body: WaitlistCreate, account: AccountDep, connection: ConnectionDep, belt: BeltDep, now: BookingNowDep
) -> WaitlistPublic:
    """Wait for [start, end) of a space; at least min_minutes of it is worth an offer."""
    site, space = site_and_space(belt, body.site, body.space)
    owner = requested_owner(connection, account, body.owner)
    require(account.covers_site(site.id), f"you act for site {account.site_id}, not {site.id}")
    entry = join_waitlist(
        connection,
        site_id=site.id,
        space=space,
        start=body.start,
        end=body.end,
        attendees=body.attendees,
        min_minutes=body.min_minutes,
        owner=owner,
        actor=account,
        now=now,
    )
    connection.commit()
    return waitlist_public(entry)


@router.get("")
def read_waitlist(
    account: AccountDep,
    connection: ConnectionDep,
    site: str | None = None,
    space: str | None = None,
    status_: Annotated[WaitlistStatus | None, Query(alias="status")] = None,
) -> list[WaitlistPublic]:
    """The caller's entries, oldest first; staff and administrators: everybody's (at their site)."""
    if account.acts_for_others:
        if account.site_id is not None:
            require(site is None or site == account.site_id, f"you act for site {account.site_id}, not {site}")
            site = account.site_id
        entries = list_entries(connection, site_id=site, space_id=space, status=status_)
    else:
        entries = list_entries(connection, account_id=account.id, site_id=site, space_id=space, status=status_)
    return [waitlist_public(entry) for entry in entries]


@router.delete("/{entry_id}")
def leave(
    entry_id: int,
    account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    belt: BeltDep,
    now: BookingNowDep,
) -> WaitlistPublic:
    """Stop waiting (an offer not yet accepted is given back and goes to the next one waiting)."""
    entry = get_entry(connection, entry_id)
    if entry is None or not may_see_booking(account, owner_id=entry.account_id, site_id=entry.site_id):
        raise WaitlistEntryNotFound(f"no waitlist entry {entry_id}")
    require(may_change_booking(account, owner_id=entry.account_id, site_id=entry.site_id), "not your waitlist entry")
    left = leave_waitlist(
        connection,
        entry=entry,
        space=space_ref(belt, entry.site_id, entry.space_id),
        policy=ReleaseTimes(connection, settings).policy(entry.site_id, entry.space_id),
        actor=account,
        now=now,
    )
    connection.commit()
    return waitlist_public(left)
