"""The queue as residents see it: the hall board's model, one ticket's status, and the board as a live SSE stream.

Public: a hall's screen and a resident's phone carry no token; nothing here names a person (a window's staff login
is masked). The board and the ticket are read from the centre's copy of the site's queue (server/db/queue.py), the
agent's health (server/db/device_health.py) and the waiting areas' latest counts (server/db/readings.py).

The stream sends a ``board`` event with the model at once and whenever it changes (server/api/queue_feed.py wakes on
the ingest's NOTIFY), and a ``heartbeat`` every ``HEARTBEAT_S`` seconds with the server's time, so that a page can
tell a dead feed from a quiet hall. It ends when the server stops (see ``_close_feeds_on_exit_signals``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from types import FrameType
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from psycopg_pool import ConnectionPool

from devices.queue_contract import TICKET_PATTERN
from devices.site import OCCUPANCY_MODELS, Belt, Site
from devices.topics import AGENT_DEVICE_ID
from server.api.deps import ConnectionDep, SiteDep
from server.api.queue_feed import QueueFeeds, feeds_of
from server.clock import Clock, ClockNotReady
from server.db.device_health import site_health
from server.db.queue import load_board, load_ticket, recent_calls, waiting_tickets
from server.db.readings import latest_readings
from server.domain.crowding import WAITING_AREA_KIND, CrowdingEpisodes, CrowdingShown, crowding_shown
from server.domain.occupancy import OccupancyState, SensorReport, assess_live_occupancy
from server.domain.queue_display import (
    CALLS_SHOWN,
    QueueDisplay,
    TicketShown,
    compose_display,
    compose_ticket,
    ticket_day,
)
from server.domain.timefmt import utc_text
from server.settings import ServerSettings

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0  # seconds between heartbeats; pages call the feed dead after 6 s without a message
RECONNECT_MS = 1000  # how soon a browser's EventSource reconnects after the stream broke (SSE ``retry``)
FIRST_BOARD_WAIT_S = 5.0  # a new stream waits this long for the site's first composition before its heartbeat


@asynccontextmanager
async def _feeds_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One feed hub per process, for every site's displays; closed when the server is asked to stop."""
    feeds = QueueFeeds(conninfo=app.state.settings.database_url, compose=lambda site_id: _compose_for(app, site_id))
    await feeds.start()
    app.state.queue_feeds = feeds
    app.state.crowding_episodes = CrowdingEpisodes()
    restore_signals = _close_feeds_on_exit_signals(feeds)
    try:
        yield
    finally:
        restore_signals()
        await feeds.close()


router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["queue display"], lifespan=_feeds_lifespan)


def _close_feeds_on_exit_signals(feeds: QueueFeeds) -> Callable[[], None]:
    """End the streams when the process is asked to stop, then let the server's own handler run.

    uvicorn shuts the application down only after every open response has finished, and an SSE stream never
    finishes by itself: without this, Ctrl-C (SIGINT) or SIGTERM would leave the server waiting for the displays.
    Signals reach only the main thread; elsewhere (a server run in a test's thread) there is nothing to chain.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(feeds.close_soon)
        prior = previous.get(signum)
        if callable(prior):
            prior(signum, frame)
        elif prior == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handle)

    def restore() -> None:
        for signum, prior in previous.items():
            if signal.getsignal(signum) is handle:
                signal.signal(signum, prior)

    return restore


def _site_now(clock: Clock) -> datetime:
    """The site's clock (the simulated one in a demo); the wall clock until a simulated clock has started."""
    try:
        return clock.now()
    except ClockNotReady:
        return datetime.now(UTC)


def _agent_state(conn: psycopg.Connection[Any], site_id: str) -> str | None:
    agent = site_health(conn, site_id=site_id).get(AGENT_DEVICE_ID)
    return None if agent is None else str(agent.state)


def _crowding(
    conn: psycopg.Connection[Any], site: Site, *, wall_now: datetime, stale_after: timedelta
) -> list[CrowdingShown]:
    """Each waiting area's latest count against its capacity, read as GET .../occupancy reads it."""
    areas = [space for space in site.spaces if space.kind == WAITING_AREA_KIND]
    reports: dict[str, dict[str, SensorReport]] = {space.id: {} for space in areas}
    for row in latest_readings(conn, site_id=site.id, space_ids=[space.id for space in areas]):
        reports[row.space_id][row.device_id] = SensorReport(people=row.people, observed_at=row.ts)
    shown = []
    for space in areas:
        live = assess_live_occupancy(
            sensors=[device.id for device in site.devices_in(space.id) if device.model in OCCUPANCY_MODELS],
            reports=reports[space.id],
            now=wall_now,
            stale_after=stale_after,
        )
        fresh = live.state is not OccupancyState.UNKNOWN
        shown.append(crowding_shown(space.id, space.name, live.people, space.capacity, fresh=fresh))
    return shown


def read_display(
    conn: psycopg.Connection[Any],
    *,
    site: Site,
    belt: Belt,
    now: datetime,
    wall_now: datetime,
    settings: ServerSettings,
    episodes: CrowdingEpisodes | None,
) -> QueueDisplay:
    """The board's model of ``site`` from the database; logs a waiting area's crowding when an episode starts."""
    crowding = _crowding(conn, site, wall_now=wall_now, stale_after=timedelta(seconds=settings.occupancy_stale_after_s))
    if episodes is not None:
        for area in episodes.started(site.id, crowding):
            log.warning("%s/%s is crowded: %s", site.id, area.space_id, area.text)
    return compose_display(
        site=site,
        tz=belt.tz,
        now=now,
        agent_state=_agent_state(conn, site.id),
        board=load_board(conn, site_id=site.id),
        calls=recent_calls(conn, site_id=site.id, limit=CALLS_SHOWN, day=ticket_day(now, belt.tz)),
        crowding=crowding,
    )


def _compose_for(app: FastAPI, site_id: str) -> QueueDisplay:
    """What the feed hub calls in a worker thread: one site's model on a pooled connection."""
    belt: Belt = app.state.belt
    pool: ConnectionPool = app.state.pool
    with pool.connection() as conn:
        return read_display(
            conn,
            site=belt.site(site_id),
            belt=belt,
            now=_site_now(app.state.clock),
            wall_now=datetime.now(UTC),
            settings=app.state.settings,
            episodes=getattr(app.state, "crowding_episodes", None),
        )


@router.get("/queue")
def queue_board(site: SiteDep, conn: ConnectionDep, request: Request) -> QueueDisplay:
    """The hall board's model: now serving per window, the last calls (newest first), waiting and estimate per
    service, the site's local time, its waiting areas' crowding, and whether the site reports at all."""
    state = request.app.state
    return read_display(
        conn,
        site=site,
        belt=state.belt,
        now=_site_now(state.clock),
        wall_now=datetime.now(UTC),
        settings=state.settings,
        episodes=getattr(state, "crowding_episodes", None),
    )


@router.get("/tickets/{day}/{number}", responses={404: {"description": "no such ticket at this site that day"}})
def ticket_status(
    site: SiteDep,
    conn: ConnectionDep,
    request: Request,
    day: date,
    number: Annotated[str, Path(pattern=TICKET_PATTERN, description="the ticket number, e.g. A017")],
) -> TicketShown:
    """One ticket for its holder's phone: status, place in line and estimate while waiting, the window once
    called."""
    ticket = load_ticket(conn, site_id=site.id, day=day, number=number)
    if ticket is None:
        raise HTTPException(status_code=404, detail=f"no ticket {number} at {site.id} on {day.isoformat()}")
    board = load_board(conn, site_id=site.id)
    return compose_ticket(
        site=site,
        ticket=ticket,
        waiting=waiting_tickets(conn, site_id=site.id, day=day) if ticket.status == "waiting" else [],
        services=[] if board is None else board.services,
        agent_state=_agent_state(conn, site.id),
    )


def get_feeds(request: Request) -> QueueFeeds:
    feeds = feeds_of(request.app.state)
    if feeds is None:
        raise HTTPException(status_code=503, detail="the live feed is not running in this process")
    return feeds


@router.get("/queue/stream", response_class=EventSourceResponse)
async def queue_stream(
    site: SiteDep, feeds: Annotated[QueueFeeds, Depends(get_feeds)], request: Request
) -> AsyncIterable[ServerSentEvent]:
    """Server-sent events: ``board`` (the model of GET .../queue) at once and on every change, ``heartbeat``
    (``{"server_time", "local_time"}``) every 2 s."""
    async with feeds.subscribe(site.id) as subscription:
        first = await subscription.next_board(wait_s=FIRST_BOARD_WAIT_S)
        if first is not None:
            yield ServerSentEvent(event="board", raw_data=first, retry=RECONNECT_MS)
        next_heartbeat = time.monotonic()
        while not subscription.closed:
            board = await subscription.next_board(wait_s=next_heartbeat - time.monotonic())
            if board is not None:
                yield ServerSentEvent(event="board", raw_data=board, retry=RECONNECT_MS)
            if time.monotonic() >= next_heartbeat and not subscription.closed:
                yield ServerSentEvent(event="heartbeat", data=_heartbeat(request.app.state.clock, request))
                next_heartbeat = time.monotonic() + HEARTBEAT_S


def _heartbeat(clock: Clock, request: Request) -> dict[str, str]:
    belt: Belt = request.app.state.belt
    now = _site_now(clock)
    return {"server_time": utc_text(datetime.now(UTC)), "local_time": now.astimezone(belt.tz).strftime("%H:%M:%S")}
