"""A bookable space's auto-release policy: staff read it, administrators change it (recorded in the audit trail).

A space with no policy of its own follows the defaults in the server's default mode (SC_RELEASE_DEFAULT_MODE); the
first PUT gives it one. Durations are whole seconds. A change pulls the space's scheduler deadline forward, so the
new policy applies to bookings in progress straight away.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from devices.site import Site, Space
from server.api.deps import AdminDep, BookingNowDep, ConnectionDep, SettingsDep, SiteDep, SpaceDep, StaffDep
from server.db.booking_events import record_event
from server.db.policies import load_policy, save_policy, stored_policy
from server.db.schedule import pull_schedule_forward
from server.domain.accounts import Account, require
from server.domain.release_types import PolicyMode, ReleasePolicy

router = APIRouter(prefix="/api/v1/sites/{site_id}/spaces/{space_id}", tags=["release policies"])


class ReleasePolicyPublic(BaseModel):
    """Every field is required on PUT (the policy is replaced whole); null turns the optional rules off."""

    model_config = ConfigDict(extra="forbid")

    mode: PolicyMode
    grace_s: int
    warn_after_s: int
    checkin_opens_s: int
    undo_window_s: int
    hold_s: int
    end_early_after_s: int | None
    exempt_longer_than_s: int | None
    strikes_to_cancel_series: int
    auto_book_unbooked: bool
    release_without_sensor: bool


def _seconds(duration: timedelta | None) -> int | None:
    return None if duration is None else round(duration.total_seconds())


def _duration(seconds: int | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def policy_public(policy: ReleasePolicy) -> ReleasePolicyPublic:
    return ReleasePolicyPublic(
        mode=policy.mode,
        grace_s=round(policy.grace.total_seconds()),
        warn_after_s=round(policy.warn_after.total_seconds()),
        checkin_opens_s=round(policy.checkin_opens.total_seconds()),
        undo_window_s=round(policy.undo_window.total_seconds()),
        hold_s=round(policy.hold.total_seconds()),
        end_early_after_s=_seconds(policy.end_early_after),
        exempt_longer_than_s=_seconds(policy.exempt_longer_than),
        strikes_to_cancel_series=policy.strikes_to_cancel_series,
        auto_book_unbooked=policy.auto_book_unbooked,
        release_without_sensor=policy.release_without_sensor,
    )


def policy_from(body: ReleasePolicyPublic) -> ReleasePolicy:
    return ReleasePolicy(
        mode=body.mode,
        grace=timedelta(seconds=body.grace_s),
        warn_after=timedelta(seconds=body.warn_after_s),
        checkin_opens=timedelta(seconds=body.checkin_opens_s),
        undo_window=timedelta(seconds=body.undo_window_s),
        hold=timedelta(seconds=body.hold_s),
        end_early_after=_duration(body.end_early_after_s),
        exempt_longer_than=_duration(body.exempt_longer_than_s),
        strikes_to_cancel_series=body.strikes_to_cancel_series,
        auto_book_unbooked=body.auto_book_unbooked,
        release_without_sensor=body.release_without_sensor,
    )


def _require_bookable_space_of(account: Account, site: Site, space: Space) -> None:
    require(account.covers_site(site.id), f"you act for site {account.site_id}, not {site.id}")
    if not space.bookable:
        raise HTTPException(
            status_code=422, detail=f"{space.id} at {site.id} is not bookable: it has no release policy"
        )


def _changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    changed = [f"{name} {before[name]} → {after[name]}" for name in after if before[name] != after[name]]
    return ", ".join(changed) if changed else "no change"


@router.get("/policy")
def read_policy(
    site: SiteDep, space: SpaceDep, staff: StaffDep, connection: ConnectionDep, settings: SettingsDep
) -> ReleasePolicyPublic:
    """The space's release policy (its own, or the defaults it follows)."""
    _require_bookable_space_of(staff, site, space)
    return policy_public(load_policy(connection, site.id, space.id, settings.release_default_mode))


@router.put("/policy", responses={422: {"description": "a setting is out of range (the message says which)"}})
def change_policy(
    body: ReleasePolicyPublic,
    site: SiteDep,
    space: SpaceDep,
    admin: AdminDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    now: BookingNowDep,
) -> ReleasePolicyPublic:
    """Replace the space's release policy; recorded as a ``policy_changed`` event with the policy before and after."""
    _require_bookable_space_of(admin, site, space)
    policy = policy_from(body)
    own = stored_policy(connection, site.id, space.id)
    before = own if own is not None else ReleasePolicy(mode=PolicyMode(settings.release_default_mode))
    save_policy(connection, site_id=site.id, space_id=space.id, policy=policy, updated_at=now, updated_by=admin.id)
    before_public = policy_public(before).model_dump(mode="json")
    after_public = policy_public(policy).model_dump(mode="json")
    record_event(
        connection,
        at=now,
        site_id=site.id,
        space_id=space.id,
        kind="policy_changed",
        actor_id=admin.id,
        detail=_changes(before_public, after_public),
        evidence={"before": before_public, "after": after_public, "before_was_default": own is None},
    )
    pull_schedule_forward(connection, site_id=site.id, space_id=space.id, due_at=now)
    connection.commit()
    return policy_public(policy)
