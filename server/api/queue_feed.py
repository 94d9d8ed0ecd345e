"""The live feed behind the queue displays: one composition per site, shared by every screen and phone watching it.

Each server process keeps one connection that LISTENs on ``sc_queue_board`` (the ingest NOTIFYs a site's id when
its queue changed, server/db/queue_writes.py). While anyone watches a site, one task refreshes its display model at
once on such a notice and every ``POLL_S`` seconds regardless (what no notice announces also changes: the agent's
health, the waiting areas' counts; and a lost LISTEN connection costs at most that), and hands each changed model to
the site's subscribers. A slow subscriber only ever gets the newest model: boards are replaced, not queued.

:meth:`QueueFeeds.close` ends every subscription, so the streams built on them end and the server can stop: uvicorn
waits for open responses before it shuts the application down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio.to_thread
import psycopg
from fastapi.encoders import jsonable_encoder
from psycopg import sql

from server.db.errors import DatabaseError
from server.db.queue_writes import QUEUE_BOARD_CHANNEL
from server.domain.queue_display import QueueDisplay

log = logging.getLogger(__name__)

POLL_S = 2.0  # seconds between refreshes of a watched site without a notice
LISTEN_RETRY_MIN_S = 0.5  # backoff of the LISTEN connection after a failure: 0.5 doubling to 10 s
LISTEN_RETRY_MAX_S = 10.0


def display_json(model: QueueDisplay) -> str:
    """The display model as the JSON text sent to browsers (the same as GET /queue answers)."""
    return json.dumps(jsonable_encoder(model), ensure_ascii=False, separators=(",", ":"))


def _unclocked(model: QueueDisplay) -> QueueDisplay:
    """The model without its clock fields: two refreshes that differ only in time are the same board."""
    return replace(model, now="", local_date="", local_time="")


@dataclass(eq=False)
class Subscription:
    """One watcher of a site: :meth:`next_board` returns each new board's JSON."""

    site_id: str
    pending: str | None = None
    closed: bool = False
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, text: str) -> None:
        self.pending = text
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next_board(self, wait_s: float) -> str | None:
        """The newest board not yet taken, waiting up to ``wait_s`` seconds for one; None on timeout or close."""
        if self.pending is None and not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=max(0.0, wait_s))
        self._ready.clear()
        text, self.pending = self.pending, None
        return None if self.closed else text


@dataclass(eq=False)
class _SiteFeed:
    subscribers: set[Subscription] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    latest: QueueDisplay | None = None
    latest_json: str | None = None
    task: asyncio.Task[None] | None = None


class QueueFeeds:
    """Per-process hub. ``compose(site_id)`` reads a site's display model (blocking; run in a worker thread)."""

    def __init__(self, *, conninfo: str, compose: Callable[[str], QueueDisplay], poll_s: float = POLL_S) -> None:
        self._conninfo = conninfo
        self._compose = compose
        self._poll_s = poll_s
        self._sites: dict[str, _SiteFeed] = {}
        self._listener: asyncio.Task[None] | None = None
        self._closed = False
        self.listening = False
        self._listen_failing = False

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen_forever(), name="queue-board-listener")

    async def close(self) -> None:
        """End every subscription (their streams end) and stop listening; idempotent."""
        self._closed = True
        tasks = [feed.task for feed in self._sites.values() if feed.task is not None]
        for feed in self._sites.values():
            for subscription in feed.subscribers:
                subscription.close()
        if self._listener is not None:
            tasks.append(self._listener)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close_soon(self) -> None:
        """Close from a signal handler running on the event loop's thread."""
        if not self._closed:
            asyncio.get_running_loop().create_task(self.close())

    @contextlib.asynccontextmanager
    async def subscribe(self, site_id: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(site_id)
        if self._closed:
            subscription.close()
            yield subscription
            return
        feed = self._sites.setdefault(site_id, _SiteFeed())
        feed.subscribers.add(subscription)
        if feed.latest_json is not None:
            subscription.offer(feed.latest_json)
        if feed.task is None or feed.task.done():
            feed.wake.set()  # compose at once for the first watcher
            feed.task = asyncio.create_task(self._refresh_forever(site_id, feed), name=f"queue-feed-{site_id}")
        try:
            yield subscription
        finally:
            feed.subscribers.discard(subscription)
            if not feed.subscribers and feed.task is not None:
                feed.task.cancel()  # nobody watches: stop reading; the next watcher starts afresh
                feed.task = None
                feed.latest = feed.latest_json = None

    def notify(self, site_id: str) -> None:
        feed = self._sites.get(site_id)
        if feed is not None:
            feed.wake.set()

    def _notify_all(self) -> None:
        for feed in self._sites.values():
            feed.wake.set()

    async def _refresh_forever(self, site_id: str, feed: _SiteFeed) -> None:
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed.wake.wait(), timeout=self._poll_s)
            feed.wake.clear()
            try:
                model = await anyio.to_thread.run_sync(self._compose, site_id)
            except Exception as exc:  # the database away, or a bug: keep the last board, try again at the next poll
                if not failing:
                    log.warning(
                        "queue display of %s unreadable (%s); retrying every %g s",
                        site_id,
                        exc,
                        self._poll_s,
                        exc_info=not isinstance(exc, DatabaseError | psycopg.Error | OSError),
                    )
                failing = True
                continue
            if failing:
                log.warning("queue display of %s readable again", site_id)
                failing = False
            if feed.latest is not None and _unclocked(model) == _unclocked(feed.latest):
                continue
            feed.latest, feed.latest_json = model, display_json(model)
            for subscription in list(feed.subscribers):
                subscription.offer(feed.latest_json)

    async def _listen_forever(self) -> None:
        delay = LISTEN_RETRY_MIN_S
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(QUEUE_BOARD_CHANNEL)))
                    if self._listen_failing:
                        log.warning("LISTEN %s works again", QUEUE_BOARD_CHANNEL)
                    self.listening, self._listen_failing = True, False
                    delay = LISTEN_RETRY_MIN_S
                    self._notify_all()  # notices may have been missed while not listening
                    async for notice in conn.notifies():
                        self.notify(notice.payload)
            except (psycopg.Error, OSError) as exc:
                if not self._listen_failing:
                    log.warning("LISTEN %s failed (%s); displays poll every %g s", QUEUE_BOARD_CHANNEL, exc, POLL_S)
                self.listening, self._listen_failing = False, True
                await asyncio.sleep(delay)
                delay = min(delay * 2, LISTEN_RETRY_MAX_S)


def feeds_of(state: Any) -> QueueFeeds | None:
    """The process's hub from ``app.state`` (None when the display router's lifespan did not run)."""
    feeds: QueueFeeds | None = getattr(state, "queue_feeds", None)
    return feeds
