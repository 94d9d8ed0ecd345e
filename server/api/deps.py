"""Dependencies shared by the routes, as ``Annotated`` aliases; the objects live on ``app.state`` (see app.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from devices.site import Belt, Site, Space
from server.clock import Clock, ClockNotReady
from server.commands import CommandService
from server.db.accounts import account_for_token
from server.domain.accounts import Account, Role
from server.settings import ServerSettings


def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


def get_belt(request: Request) -> Belt:
    belt: Belt = request.app.state.belt
    return belt


async def get_connection(request: Request) -> AsyncIterator[psycopg.Connection]:
    """A pooled connection, committed when the request succeeds and rolled back when it fails.

    Waited for on the event loop (at most as many waiters as the pool has connections), not in a worker thread: a
    burst larger than the thread pool would otherwise fill every thread with waiters while the holders of the pool's
    connections wait for a thread to run their route — a deadlock (seen with 50 concurrent booking requests)."""
    pool: ConnectionPool = request.app.state.pool
    async with request.app.state.connection_slots:
        connection = await run_in_threadpool(pool.getconn)
        try:
            yield connection
        except BaseException:
            await run_in_threadpool(_rollback_quietly, connection)
            raise
        else:
            await run_in_threadpool(connection.commit)
        finally:
            await run_in_threadpool(pool.putconn, connection)


def _rollback_quietly(connection: psycopg.Connection) -> None:
    with contextlib.suppress(psycopg.Error):  # a broken connection: the pool discards it on putconn
        connection.rollback()


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


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def get_booking_now(clock: ClockDep) -> datetime:
    """Now on the server's clock (the simulated one in a demo); 503 until a simulated clock has started."""
    try:
        return clock.now()
    except ClockNotReady as exc:
        raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "1"}) from None


BookingNowDep = Annotated[datetime, Depends(get_booking_now)]

_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/token")


def get_account(
    connection: ConnectionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Account:
    """The account whose bearer token came with the request; 401 without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status_code=401, detail="log in first", headers={"WWW-Authenticate": "Bearer"})
    account = account_for_token(connection, credentials.credentials, now=datetime.now(UTC))
    if account is None:
        raise HTTPException(
            status_code=401, detail="unknown, expired or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    return account


AccountDep = Annotated[Account, Depends(get_account)]


def get_staff(account: AccountDep) -> Account:
    if not account.acts_for_others:
        raise HTTPException(status_code=403, detail="staff or administrators only")
    return account


def get_admin(account: AccountDep) -> Account:
    if account.role is not Role.ADMIN:
        raise HTTPException(status_code=403, detail="administrators only")
    return account


StaffDep = Annotated[Account, Depends(get_staff)]
AdminDep = Annotated[Account, Depends(get_admin)]
