"""Dependencies shared by the routes, as ``Annotated`` aliases; the objects live on ``app.state`` (see app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request
from psycopg_pool import ConnectionPool

from devices.site import Belt, Site, Space
from server.commands import CommandService
from server.settings import ServerSettings


def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


def get_belt(request: Request) -> Belt:
    belt: Belt = request.app.state.belt
    return belt


def get_connection(request: Request) -> Iterator[psycopg.Connection]:
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as connection:
        yield connection


def get_now() -> datetime:
    return datetime.now(UTC)


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
BeltDep = Annotated[Belt, Depends(get_belt)]
ConnectionDep = Annotated[psycopg.Connection, Depends(get_connection)]
NowDep = Annotated[datetime, Depends(get_now)]


def get_site(site_id: str, belt: BeltDep) -> Site:
    try:
        return belt.site(site_id)
    except KeyError:
        raise HTTPException(status_code=404, detail=f"no site {site_id!r}") from None


SiteDep = Annotated[Site, Depends(get_site)]


def get_space(space_id: str, site: SiteDep) -> Space:
    try:
        return site.space(space_id)
    except KeyError:
        raise HTTPException(status_code=404, detail=f"no space {space_id!r} at {site.id}") from None


SpaceDep = Annotated[Space, Depends(get_space)]


def get_commands(request: Request) -> CommandService:
    commands: CommandService | None = request.app.state.commands
    if commands is None:
        raise HTTPException(status_code=503, detail="commands are disabled on this server (SC_COMMANDS_ENABLED)")
    return commands


CommandsDep = Annotated[CommandService, Depends(get_commands)]
