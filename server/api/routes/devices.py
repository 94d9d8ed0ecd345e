"""The devices of a site with their latest health, as the site's edge agent last reported it.

Staff routes: they are to be protected when authentication arrives (a later issue); until then they are open like
the rest of the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from devices.topics import AGENT_DEVICE_ID
from server.api.deps import ConnectionDep, SiteDep
from server.commands import ACTIONS_OF_MODEL
from server.db.device_health import DeviceHealth, site_health

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["devices"])


class DeviceHealthPublic(BaseModel):
    # online | stale | offline | lost (the agent's last will) as reported; unknown: nothing was ever reported.
    state: Literal["online", "stale", "offline", "lost", "unknown"]
    since: datetime | None  # when it entered the state (the edge's clock)
    last_seen: datetime | None  # its last good read or message
    detail: str
    reported_at: datetime | None  # when the edge published the report
    received_at: datetime | None  # when the server last received it (a retained report comes again on reconnect)


class DevicePublic(BaseModel):
    id: str
    model: str
    space: str
    transport: str
    actions: list[str]  # the commands it takes (POST .../devices/{device_id}/commands/{action})
    health: DeviceHealthPublic


class SiteDevicesPublic(BaseModel):
    site_id: str
    # The edge agent's own status: while it is offline or lost, the devices' health is as it last saw it.
    agent: DeviceHealthPublic
    devices: list[DevicePublic]


UNKNOWN = DeviceHealthPublic(state="unknown", since=None, last_seen=None, detail="", reported_at=None, received_at=None)


def health_public(health: DeviceHealth | None) -> DeviceHealthPublic:
    if health is None:
        return UNKNOWN
    return DeviceHealthPublic(
        state=health.state,
        since=health.since,
        last_seen=health.last_seen,
        detail=health.detail,
        reported_at=health.reported_at,
        received_at=health.received_at,
    )


@router.get("/devices")
def list_devices(site: SiteDep, conn: ConnectionDep) -> SiteDevicesPublic:
    """Every device of the site with its model, space, the commands it takes and its latest health.

    A staff route: it is to be protected when authentication arrives (a later issue).
    """
    health = site_health(conn, site_id=site.id)
    return SiteDevicesPublic(
        site_id=site.id,
        agent=health_public(health.get(AGENT_DEVICE_ID)),
        devices=[
            DevicePublic(
                id=device.id,
                model=device.model,
                space=device.space,
                transport=device.transport,
                actions=sorted(ACTIONS_OF_MODEL.get(device.model, frozenset())),
                health=health_public(health.get(device.id)),
            )
            for device in site.devices
        ],
    )
