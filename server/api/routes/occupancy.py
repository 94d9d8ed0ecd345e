"""Live occupancy per space and its history, from the stored sensor readings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel

from devices.site import OCCUPANCY_MODELS, Site
from server.api.deps import ConnectionDep, NowDep, SettingsDep, SiteDep, SpaceDep
from server.db.readings import latest_readings, occupancy_history
from server.domain.occupancy import LiveOccupancy, OccupancyState, SensorReport, assess_live_occupancy
from server.settings import ServerSettings

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["occupancy"])

# History requests are bounded so one call cannot scan years of readings.
MAX_HISTORY_SPAN = timedelta(days=92)
MAX_HISTORY_POINTS = 10_000


class OccupancyPublic(BaseModel):
    site_id: str
    space_id: str
    space_name: str
    state: OccupancyState  # occupied | empty | unknown (a silent or stale sensor is never "empty")
    people: int | None
    capacity: int
    observed_at: datetime | None
    age_s: float | None
    reason: str


class OccupancyPointPublic(BaseModel):
    bucket: datetime
    avg_people: float
    max_people: int
    readings: int


def _public(site: Site, space_id: str, live: LiveOccupancy) -> OccupancyPublic:
    space = site.space(space_id)
    return OccupancyPublic(
        site_id=site.id,
        space_id=space.id,
        space_name=space.name,
        state=live.state,
        people=live.people,
        capacity=space.capacity,
        observed_at=live.observed_at,
        age_s=live.age_s,
        reason=live.reason,
    )


def _assess_spaces(
    conn: psycopg.Connection[Any], site: Site, space_ids: list[str], *, now: datetime, settings: ServerSettings
) -> dict[str, LiveOccupancy]:
    """One query for the newest reading of every device in the spaces, then the domain's verdict per space."""
    reports: dict[str, dict[str, SensorReport]] = {space_id: {} for space_id in space_ids}
    for row in latest_readings(conn, site_id=site.id, space_ids=space_ids):
        reports[row.space_id][row.device_id] = SensorReport(people=row.people, observed_at=row.ts)
    stale_after = timedelta(seconds=settings.occupancy_stale_after_s)
    return {
        space_id: assess_live_occupancy(
            sensors=[device.id for device in site.devices_in(space_id) if device.model in OCCUPANCY_MODELS],
            reports=reports[space_id],
            now=now,
            stale_after=stale_after,
        )
        for space_id in space_ids
    }


@router.get("/occupancy")
def site_occupancy(site: SiteDep, conn: ConnectionDep, now: NowDep, settings: SettingsDep) -> list[OccupancyPublic]:
    """Live occupancy of every space of the site; ``unknown`` where a sensor is missing, silent or stale."""
    space_ids = [space.id for space in site.spaces]
    verdicts = _assess_spaces(conn, site, space_ids, now=now, settings=settings)
    return [_public(site, space_id, verdicts[space_id]) for space_id in space_ids]


@router.get("/spaces/{space_id}/occupancy")
def space_occupancy(
    site: SiteDep, space: SpaceDep, conn: ConnectionDep, now: NowDep, settings: SettingsDep
) -> OccupancyPublic:
    """Live occupancy of one space, with the reason for its state."""
    verdicts = _assess_spaces(conn, site, [space.id], now=now, settings=settings)
    return _public(site, space.id, verdicts[space.id])


@router.get("/spaces/{space_id}/occupancy/history")
def space_occupancy_history(
    site: SiteDep,
    space: SpaceDep,
    conn: ConnectionDep,
    start: Annotated[AwareDatetime, Query(alias="from", description="inclusive, RFC 3339 with offset")],
    end: Annotated[AwareDatetime, Query(alias="to", description="exclusive, RFC 3339 with offset")],
    bucket_s: Annotated[int, Query(ge=60, le=86_400, description="bucket width in seconds")] = 900,
) -> list[OccupancyPointPublic]:
    if end <= start:
        raise HTTPException(status_code=422, detail="'to' must be after 'from'")
    if end - start > MAX_HISTORY_SPAN:
        raise HTTPException(status_code=422, detail=f"at most {MAX_HISTORY_SPAN.days} days per request")
    bucket = timedelta(seconds=bucket_s)
    if (end - start) / bucket > MAX_HISTORY_POINTS:
        raise HTTPException(status_code=422, detail=f"at most {MAX_HISTORY_POINTS} buckets per request")
    points = occupancy_history(conn, site_id=site.id, space_id=space.id, start=start, end=end, bucket=bucket)
    return [
        OccupancyPointPublic(bucket=p.bucket, avg_people=p.avg_people, max_people=p.max_people, readings=p.readings)
        for p in points
    ]
