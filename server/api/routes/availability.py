"""When a bookable space is open and which of that time is taken (any logged-in account).

``busy`` lists the bookings that hold their range (held, confirmed, checked in); their owners are shown to staff
and administrators only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from server.api.booking_models import AvailabilityPublic, BusySpan, Span, owner_ref
from server.api.deps import AccountDep, BeltDep, ConnectionDep, SiteDep, SpaceDep
from server.db.bookings import ACTIVE, list_bookings
from server.domain.bookings import BookingRuleError, RuleCode, check_range, opening_intervals

router = APIRouter(prefix="/api/v1/sites/{site_id}/spaces/{space_id}", tags=["bookings"])

# One request covers at most this much: a calendar month view and a little more.
MAX_SPAN = timedelta(days=62)


@router.get("/availability")
def read_availability(
    site: SiteDep,
    space: SpaceDep,
    account: AccountDep,
    connection: ConnectionDep,
    belt: BeltDep,
    from_: Annotated[AwareDatetime, Query(alias="from")],
    to: AwareDatetime,
) -> AvailabilityPublic:
    check_range(from_, to)
    if to - from_ > MAX_SPAN:
        raise BookingRuleError(RuleCode.BAD_RANGE, f"ask for at most {MAX_SPAN.days} days at once")
    opening = opening_intervals(space, tz=belt.tz, start=from_, end=to) if space.bookable else []
    bookings = list_bookings(connection, site_id=site.id, space_id=space.id, overlapping=(from_, to), statuses=ACTIVE)
    return AvailabilityPublic(
        opening=[Span(start=start, end=end) for start, end in opening],
        busy=[
            BusySpan(
                start=booking.start,
                end=booking.end,
                status=booking.status,
                owner=owner_ref(booking) if account.acts_for_others else None,
            )
            for booking in bookings
        ],
    )
