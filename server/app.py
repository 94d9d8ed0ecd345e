"""The FastAPI application: ``create_app(settings)`` builds it; nothing is read from the environment here."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from devices.broker import parse_broker_url
from devices.mqtt_link import MqttLink
from devices.site import Belt, load_belt
from server.api.errors import install_error_handlers
from server.api.routes import (
    accounts,
    auth,
    availability,
    booking_actions,
    bookings,
    commands,
    devices,
    display_pages,
    health,
    notices,
    occupancy,
    policies,
    queue_actions,
    queue_display,
    release_report,
    rooms,
    sites,
    waitlist,
)
from server.clock import clock_for
from server.commands import CommandService
from server.db.catalogue import CatalogueSync
from server.ingest.service import IngestService
from server.release.scheduler import ReleaseScheduler
from server.settings import ServerSettings

log = logging.getLogger(__name__)


def create_app(settings: ServerSettings, *, belt: Belt | None = None) -> FastAPI:
    belt = belt if belt is not None else load_belt(settings.site_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # check= makes the pool test a connection before lending it, so a database restart costs no request.
        pool = ConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=8,
            open=False,
            check=ConnectionPool.check_connection,
            name="api",
        )
        pool.open(wait=False)
        catalogue = CatalogueSync(settings.database_url, belt)
        catalogue.start()
        app.state.catalogue = catalogue
        # Requests wait for a connection on the event loop, as many at a time as the pool has (api/deps.py).
        app.state.connection_slots = anyio.Semaphore(pool.max_size)
        ingest = None
        if settings.ingest_enabled:
            ingest = IngestService(
                belt=belt,
                broker=parse_broker_url(settings.mqtt_url),
                conninfo=settings.database_url,
                client_id=settings.ingest_client_id,
                topic_root=settings.topic_root,
                batch_max=settings.ingest_batch_max,
                max_future=timedelta(seconds=settings.max_future_skew_s),
            )
            ingest.start()
        # Commands get a link of their own rather than the ingest's: they then work on a server that runs no ingest
        # (the answer is read from the database, whoever stored it), and do not queue behind the ingest's busy
        # network thread. A clean session: it subscribes to nothing. A command resent after a reconnect that reaches
        # the edge after expires_at is answered "expired", never carried out (devices/commands.py).
        command_link = None
        command_service = None
        if settings.commands_enabled:
            command_link = MqttLink(
                parse_broker_url(settings.mqtt_url),
                client_id=settings.command_client_id or f"sc-server-commands-{uuid.uuid4().hex[:8]}",
            )
            command_link.start()
            command_service = CommandService(
                belt=belt,
                pool=pool,
                link=command_link,
                topic_root=settings.topic_root,
                ttl=timedelta(seconds=settings.command_ttl_s),
                answer_grace=timedelta(seconds=settings.command_answer_grace_s),
            )
        app.state.pool = pool
        app.state.ingest = ingest
        app.state.commands = command_service
        # The release scheduler has a connection of its own: its transactions hold a space's row while it decides.
        scheduler = None
        if settings.scheduler_enabled:
            scheduler = ReleaseScheduler(
                belt=belt,
                conninfo=settings.database_url,
                clock=app.state.clock,
                settings=settings,
                commands=command_service,
            )
            scheduler.start()
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            catalogue.stop()
            if scheduler is not None:
                scheduler.stop()
            if command_link is not None:
                command_link.stop()
            if ingest is not None:
                ingest.stop()
            pool.close()

    app = FastAPI(
        title="Smart Complex",
        version="0.1.0",
        summary="Occupancy, bookings, service-window queues and door access for a community service belt.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.belt = belt
    app.state.clock = clock_for(settings.simulated_clock_file)
    app.include_router(health.router)
    app.include_router(sites.router)
    app.include_router(occupancy.router)
    app.include_router(devices.router)
    app.include_router(commands.router)
    # Issue 4's routers (one line each, in this block):
    app.include_router(auth.router)
    app.include_router(accounts.router)
    app.include_router(notices.router)
    app.include_router(policies.router)
    app.include_router(rooms.router)
    app.include_router(release_report.router)
    app.include_router(bookings.router)
    app.include_router(booking_actions.router)
    app.include_router(waitlist.router)
    app.include_router(availability.router)
    # Issue 5's queue actions (forwarded to the site's edge agent):
    app.include_router(queue_actions.router)
    # Issue 5's display routers
    app.include_router(queue_display.router)
    app.include_router(display_pages.router)
    install_error_handlers(app)
    return app
