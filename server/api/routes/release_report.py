"""How the release policy did per room over a time range (staff): releases, undos, and the false-release rate.

The false-release rate is the share of releases people contradicted: in shadow mode the "would have released"
decisions followed by people arriving, in enforce mode the releases undone because people came. Null when there is
nothing to divide (and for spaces whose policy is off).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel

from server.api.deps import ConnectionDep, SettingsDep, SiteDep, StaffDep
from server.db.policies import load_policy
from server.db.release_report import SpaceReleaseFigures, release_figures
from server.domain.accounts import require
from server.domain.release_types import PolicyMode

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["release report"])

MAX_REPORT_SPAN = timedelta(days=366)


class SpaceReleasePublic(BaseModel):
    space: str
    mode: PolicyMode  # the space's policy now
    bookings: int
    checked_in: int
    released: int
    undone: int
    ended_early: int
    would_release: int
    shadow_false_releases: int
    false_release_rate: float | None


class ReleaseReportPublic(BaseModel):
    spaces: list[SpaceReleasePublic]


def false_release_rate(mode: PolicyMode, figures: SpaceReleaseFigures) -> float | None:
    if mode is PolicyMode.SHADOW and figures.would_release:
        return figures.shadow_false_releases / figures.would_release
    if mode is PolicyMode.ENFORCE and figures.released:
        return figures.undone / figures.released
    return None


@router.get("/release-report")
def release_report(
    site: SiteDep,
    staff: StaffDep,
    connection: ConnectionDep,
    settings: SettingsDep,
    start: Annotated[AwareDatetime, Query(alias="from", description="bookings starting from (RFC 3339)")],
    end: Annotated[AwareDatetime, Query(alias="to", description="... until, exclusive (RFC 3339)")],
) -> ReleaseReportPublic:
    """Per bookable space, the bookings that started in [from, to) and what the release policy did with them."""
    require(staff.covers_site(site.id), f"you act for site {staff.site_id}, not {site.id}")
    if end <= start:
        raise HTTPException(status_code=422, detail="'to' must be after 'from'")
    if end - start > MAX_REPORT_SPAN:
        raise HTTPException(status_code=422, detail=f"at most {MAX_REPORT_SPAN.days} days per report")
    with connection.transaction():
        figures = release_figures(connection, site_id=site.id, start=start, end=end)
        modes = {
            space.id: load_policy(connection, site.id, space.id, settings.release_default_mode).mode
            for space in site.spaces
            if space.bookable
        }
    spaces = []
    for space_id, mode in modes.items():
        counted = figures.get(space_id, SpaceReleaseFigures(space_id))
        spaces.append(
            SpaceReleasePublic(
                space=space_id,
                mode=mode,
                bookings=counted.bookings,
                checked_in=counted.checked_in,
                released=counted.released,
                undone=counted.undone,
                ended_early=counted.ended_early,
                would_release=counted.would_release,
                shadow_false_releases=counted.shadow_false_releases,
                false_release_rate=false_release_rate(mode, counted),
            )
        )
    return ReleaseReportPublic(spaces=spaces)
