"""The release scheduler: looks at each bookable space when its deadline comes, and carries out the release policy.

Deadlines live in the database (``room_schedule``, one row per bookable space), so they survive any restart, and
any number of server replicas may run a scheduler on one database: each transaction claims ONE due row with
``FOR UPDATE SKIP LOCKED``, loads the space's facts, evaluates the policy (server/domain/release.py), carries out
the actions, stores the space's next deadline and commits. A space is therefore decided by one replica at a time,
and a decision is never taken twice: the next look sees what the previous one did. Booking changes through the API
pull a space's deadline forward in their own transaction (server/db/schedule.py), and may ``wake()`` the scheduler.

Panel messages go out after the commit. One space that fails is logged and looked at again a little later; the
others carry on. A database outage is retried with backoff, logged once when it starts and once when it ends.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import tuple_row

from devices.site import Belt
from server.clock import Clock
from server.commands import CommandService
from server.db.errors import TransientDatabaseError, translated_errors
from server.db.release import display_devices, load_space_facts, occupancy_sensors
from server.db.release_actions import ApplyContext, PanelMessage, apply_actions
from server.db.schedule import SCHEDULE_CHANNEL, pull_schedule_forward
from server.db.waitlist_offers import SpaceRef
from server.domain.release import evaluate_space
from server.domain.release_types import Cadence
from server.release.panels import panels_unavailable, send_panel_messages
from server.settings import ServerSettings

log = logging.getLogger(__name__)

# A space whose evaluation failed is looked at again this long later (wall seconds, whatever the clock's speed).
FAILED_SPACE_RETRY_WALL_S = 5.0
# Reconnecting after a database failure: first wait, doubling up to the cap (wall seconds).
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
# Shortest sleep when a due space is claimed by another replica (wall seconds): no busy loop while it works.
MIN_SLEEP_S = 0.02
CONNECT_TIMEOUT_S = 5
# The listener checks for stop this often (wall seconds) while no notification comes.
LISTEN_POLL_S = 0.5
# A room_schedule row of a space the site file no longer has (or no longer lets book) is looked at again this much
# later on the server's clock, in case the file comes back: a day.
UNKNOWN_SPACE_RETRY = timedelta(days=1)


class SpaceGone(Exception):
    """A scheduled space that the site file no longer names as bookable."""


class ReleaseScheduler:
    def __init__(
        self,
        *,
        belt: Belt,
        conninfo: str,
        clock: Clock,
        settings: ServerSettings,
        commands: CommandService | None = None,
    ) -> None:
        self.scheduler_id = settings.scheduler_id or f"release-{uuid.uuid4().hex[:8]}"
        self._belt = belt
        self._conninfo = conninfo
        self._clock = clock
        self._commands = commands
        self._cadence = Cadence(
            active=timedelta(seconds=settings.scheduler_active_cadence_s),
            idle=timedelta(seconds=settings.scheduler_idle_cadence_s),
        )
        self._stale_after = timedelta(seconds=settings.occupancy_stale_after_s)
        self._default_mode = settings.release_default_mode
        self._max_sleep_s = settings.scheduler_max_sleep_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._connection: psycopg.Connection | None = None
        self._seeded = False
        self.spaces_evaluated = 0  # for tests and logs: how many claims this replica carried out

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"release-scheduler-{self.scheduler_id}", daemon=True)
        self._thread.start()
        self._listener = threading.Thread(
            target=self._listen, name=f"release-scheduler-{self.scheduler_id}-listen", daemon=True
        )
        self._listener.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in (self._thread, self._listener):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._listener = None

    def _listen(self) -> None:
        """Wake the scheduler whenever any replica or the API pulls a deadline forward (NOTIFY on commit). Best
        effort: without it the scheduler still looks every scheduler_max_sleep_s."""
        backoff = BACKOFF_START_S
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT_S,
                    application_name=f"sc-{self.scheduler_id}-listen",
                ) as connection:
                    connection.execute(f"LISTEN {SCHEDULE_CHANNEL}")
                    backoff = BACKOFF_START_S
                    while not self._stopping.is_set():
                        for _notice in connection.notifies(timeout=LISTEN_POLL_S):
                            self._wake.set()
            except psycopg.Error as exc:
                log.debug(
                    "release scheduler %s: listening failed (%s); again in %.1f s", self.scheduler_id, exc, backoff
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def wake(self) -> None:
        """Look for due spaces now (a booking changed) rather than at the end of the current sleep."""
        self._wake.set()

    def _sleep(self, seconds: float) -> None:
        if self._wake.wait(max(seconds, 0.0)):
            self._wake.clear()

    def _run(self) -> None:
        backoff: float | None = None  # not None while the database is failing
        try:
            while not self._stopping.is_set():
                if not self._clock.ready:
                    self._sleep(min(self._max_sleep_s, 0.5))  # a demo's simulated clock has not started yet
                    continue
                try:
                    connection = self._connect()
                    if not self._seeded:
                        self._seed(connection)
                    claimed = self._run_one(connection)
                    if backoff is not None:
                        log.info("release scheduler %s: database reachable again", self.scheduler_id)
                        backoff = None
                    if not claimed:
                        self._sleep(self._idle_wait(connection))
                except Exception as exc:  # the database went away, or a bug: never let the thread die
                    if backoff is None:
                        transient = isinstance(exc, TransientDatabaseError | psycopg.OperationalError)
                        log.log(
                            logging.WARNING if transient else logging.ERROR,
                            "release scheduler %s: %s; retrying with backoff",
                            self.scheduler_id,
                            exc,
                            exc_info=not transient,
                        )
                        backoff = BACKOFF_START_S
                    self._disconnect()
                    self._sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
        finally:
            self._disconnect()

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            try:
                self._connection = psycopg.connect(
                    self._conninfo, connect_timeout=CONNECT_TIMEOUT_S, application_name=f"sc-{self.scheduler_id}"
                )
            except psycopg.OperationalError as exc:
                raise TransientDatabaseError(f"connecting: {exc}") from exc
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _seed(self, connection: psycopg.Connection) -> None:
        """Every bookable space of the belt gets a deadline (due now): a space nobody booked yet is still watched
        for unbooked use, and after a restart every space is looked at once straight away."""
        now = self._clock.now()
        with connection.transaction():
            for site in self._belt.sites:
                for space in site.spaces:
                    if space.bookable:
                        pull_schedule_forward(connection, site_id=site.id, space_id=space.id, due_at=now)
        self._seeded = True

    def _idle_wait(self, connection: psycopg.Connection) -> float:
        """Wall seconds until the earliest deadline, capped (so deadlines other replicas set are noticed)."""
        with connection.transaction(), translated_errors("reading the earliest deadline"):
            row = connection.execute("SELECT min(due_at) FROM room_schedule").fetchone()
        earliest = None if row is None else row[0]
        if earliest is None:
            return self._max_sleep_s
        wait = self._clock.wall_seconds(earliest - self._clock.now())
        return min(max(wait, MIN_SLEEP_S), self._max_sleep_s)

    def _run_one(self, connection: psycopg.Connection) -> bool:
        """Claim one due space, decide and commit; False when none is due (or every due one is claimed)."""
        now = self._clock.now()
        messages: list[PanelMessage] = []
        with connection.transaction():
            with translated_errors("claiming a due space"), connection.cursor(row_factory=tuple_row) as cursor:
                cursor.execute(
                    "SELECT site_id, space_id FROM room_schedule WHERE due_at <= %s"
                    " ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                    (now,),
                )
                row = cursor.fetchone()
            if row is None:
                return False
            site_id, space_id = row
            try:
                with connection.transaction():  # a savepoint: a failing space leaves nothing half done
                    due, messages = self._decide(connection, site_id, space_id, now)
            except (TransientDatabaseError, psycopg.OperationalError):
                raise
            except SpaceGone:
                # Taken out of the site file (or not bookable any more): its bookings stay as they are.
                log.warning(
                    "release scheduler: %s/%s is not a bookable space of the site file; not watched", site_id, space_id
                )
                due, messages = now + UNKNOWN_SPACE_RETRY, []
            except Exception:
                retry = timedelta(seconds=FAILED_SPACE_RETRY_WALL_S / self._clock.wall_seconds(timedelta(seconds=1)))
                log.exception("release scheduler: space %s/%s failed; looking again in %s", site_id, space_id, retry)
                due, messages = now + retry, []
            with translated_errors("storing a space's next deadline"):
                connection.execute(
                    "UPDATE room_schedule SET due_at = %s, last_run_at = %s, last_run_by = %s"
                    " WHERE site_id = %s AND space_id = %s",
                    (due, now, self.scheduler_id, site_id, space_id),
                )
        self.spaces_evaluated += 1
        if messages:
            send_panel_messages(connection, self._commands, messages)
        return True

    def _decide(
        self, connection: psycopg.Connection, site_id: str, space_id: str, now: datetime
    ) -> tuple[datetime, list[PanelMessage]]:
        try:
            site = self._belt.site(site_id)
            space = site.space(space_id)
        except KeyError:
            raise SpaceGone(f"{site_id}/{space_id}") from None
        if not space.bookable:
            raise SpaceGone(f"{site_id}/{space_id}")
        facts = load_space_facts(
            connection,
            site=site,
            space_id=space_id,
            now=now,
            clock=self._clock,
            stale_after=self._stale_after,
            default_mode=self._default_mode,
        )
        decision = evaluate_space(
            now=now, policy=facts.policy, bookings=facts.bookings, evidence=facts.evidence, cadence=self._cadence
        )
        context = ApplyContext(
            space=SpaceRef(site.id, space.id, space.name, space.capacity, self._belt.tz),
            now=now,
            policy=facts.policy,
            scheduler_id=self.scheduler_id,
            displays=display_devices(site, space_id),
            panels_unavailable=panels_unavailable(self._commands),
            sensor_devices=frozenset(occupancy_sensors(site, space_id)),
        )
        applied = apply_actions(connection, context=context, actions=decision.actions)
        if applied.events:
            log.info("release %s/%s at %s: %s", site_id, space_id, now.isoformat(), ", ".join(applied.events))
        return min([decision.next_due, *applied.deadlines]), applied.panel_messages
