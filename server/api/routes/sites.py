"""The service belt as the site file describes it: sites and their spaces."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from devices.site import Site, Space
from server.api.deps import BeltDep, SiteDep

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])


class SitePublic(BaseModel):
    id: str
    name: str
    address: str
    spaces: int


class SpacePublic(BaseModel):
    id: str
    name: str
    floor: int | str
    kind: str
    capacity: int
    bookable: bool
    opening_hours: str
    devices: list[str]


def space_public(site: Site, space: Space) -> SpacePublic:
    return SpacePublic(
        id=space.id,
        name=space.name,
        floor=space.floor,
        kind=space.kind,
        capacity=space.capacity,
        bookable=space.bookable,
        opening_hours=str(space.hours),
        devices=[device.id for device in site.devices if device.space == space.id],
    )


@router.get("")
def list_sites(belt: BeltDep) -> list[SitePublic]:
    return [SitePublic(id=s.id, name=s.name, address=s.address, spaces=len(s.spaces)) for s in belt.sites]


@router.get("/{site_id}/spaces")
def list_spaces(site: SiteDep) -> list[SpacePublic]:
    return [space_public(site, space) for space in site.spaces]
