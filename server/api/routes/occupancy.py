"""Live occupancy per space and its history, from the stored sensor readings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel

from devices.site import Site
from server.api.deps import ConnectionDep, NowDep, SettingsDep, SiteDep, SpaceDep
from server.db.readings import SpaceOccupancy, latest_occupancy, occupancy_history
from server.domain.occupancy import LiveOccupancy, SensorEvidence, assess_live_occupancy

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["occupancy"])

# History requests are bounded so one call cannot scan years of readings.
MAX_HISTORY_SPAN = timedelta(days=92)
MAX_HISTORY_POINTS = 10_000


class OccupancyPublic(BaseModel):
    site_id: str
    space_id: str
    space_name: str
    state: str
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
        state=live.state.value,
        people=live.people,
        capacity=space.capacity,
        observed_at=live.observed_at,
        age_s=live.age_s,
        reason=live.reason,
    )


def _assess(
    site: Site, space_id: str, latest: SpaceOccupancy | None, *, now: datetime, stale_s: float
) -> LiveOccupancy:
    evidence = None
    if latest is not None and latest.people is not None and latest.observed_at is not None:
        evidence = SensorEvidence(people=latest.people, observed_at=latest.observed_at, device_ids=latest.device_ids)
    has_sensor = any(device.space == space_id for device in site.devices)
    return assess_live_occupancy(
        evidence=evidence, has_sensor=has_sensor, now=now, stale_after=timedelta(seconds=stale_s)
    )


@router.get("/occupancy")
def site_occupancy(site: SiteDep, conn: ConnectionDep, now: NowDep, settings: SettingsDep) -> list[OccupancyPublic]:
    space_ids = [space.id for space in site.spaces]
    latest = latest_occupancy(
        conn,
        site_id=site.id,
        space_ids=space_ids,
        now=now,
        stale_after=timedelta(seconds=settings.occupancy_stale_after_s),
    )
    return [
        _public(
            site,
            space_id,
            _assess(site, space_id, latest.get(space_id), now=now, stale_s=settings.occupancy_stale_after_s),
        )
        for space_id in space_ids
    ]


@router.get("/spaces/{space_id}/occupancy")
def space_occupancy(
    site: SiteDep, space: SpaceDep, conn: ConnectionDep, now: NowDep, settings: SettingsDep
) -> OccupancyPublic:
    latest = latest_occupancy(
        conn,
        site_id=site.id,
        space_ids=[space.id],
        now=now,
        stale_after=timedelta(seconds=settings.occupancy_stale_after_s),
    )
    live = _assess(site, space.id, latest.get(space.id), now=now, stale_s=settings.occupancy_stale_after_s)
    return _public(site, space.id, live)


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
