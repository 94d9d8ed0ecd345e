"""One explainable state per bookable space: the booking, its check-in, the sensors and card reads, fused.

The state is computed from the same facts the release scheduler decides on (server/db/release.py), at ``now`` on
the server's clock. A silent or stale sensor makes presence ``unknown``: a room is never shown ``free`` on the
strength of a sensor that stopped talking.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from server.api.deps import AccountDep, BookingNowDep, ClockDep, ConnectionDep, SettingsDep, SiteDep, SpaceDep
from server.db.release import load_space_facts
from server.domain.release import describe_room
from server.domain.release_types import PolicyMode, Presence, RoomStateName

router = APIRouter(prefix="/api/v1/sites/{site_id}/spaces/{space_id}", tags=["rooms"])


class PresencePublic(BaseModel):
    presence: Presence  # present | absent | unknown
    people: int | None
    reason: str
    stale_sensors: list[str]


class RoomStatePublic(BaseModel):
    state: RoomStateName  # in_use | booked | held | occupied_unbooked | free | unknown
    presence: PresencePublic
    booking_id: int | None
    release_at: datetime | None  # a booking waiting for its people is released then unless somebody comes
    reason: str
    evidence: dict[str, Any]
    policy_mode: PolicyMode


@router.get("/room")
def room_state(
    site: SiteDep,
    space: SpaceDep,
    _account: AccountDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    clock: ClockDep,
    now: BookingNowDep,
) -> RoomStatePublic:
    """The space's state now, the presence behind it, and why (with the readings and card reads as evidence)."""
    if not space.bookable:
        raise HTTPException(status_code=422, detail=f"{space.id} at {site.id} is not bookable: it has no room state")
    with connection.transaction():
        facts = load_space_facts(
            connection,
            site=site,
            space_id=space.id,
            now=now,
            clock=clock,
            stale_after=timedelta(seconds=settings.occupancy_stale_after_s),
            default_mode=settings.release_default_mode,
        )
    state = describe_room(now=now, policy=facts.policy, bookings=facts.bookings, evidence=facts.evidence)
    return RoomStatePublic(
        state=state.state,
        presence=PresencePublic(
            presence=state.presence.presence,
            people=state.presence.people,
            reason=state.presence.reason,
            stale_sensors=list(state.presence.stale_sensors),
        ),
        booking_id=state.booking_id,
        release_at=state.release_at,
        reason=state.reason,
        evidence=dict(state.evidence),
        policy_mode=facts.policy.mode,
    )
