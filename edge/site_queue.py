"""The site's ticket queue inside the edge agent: the one issuer and caller of this site's tickets.

Inputs, all serialised by one lock (the queue decides one thing at a time):
- a dispenser button (``ticket_request.v1`` from :mod:`edge.mqtt_devices`) issues a ticket and prints it;
- a window terminal key (``terminal.v1``) opens, closes, calls, recalls, marks a no-show, transfers or finishes;
- the centre's commands to the agent (``_agent/cmd/take`` and ``cmd/window``, :mod:`devices.queue_contract`) do the
  same for the API, reception staff and appointments; the answer carries the ticket.

Every change is saved in the outbox's SQLite file in the same transaction as the device's own event and the
``queue.v1`` events that announce it (:meth:`edge.outbox.Outbox.submit_all`): a number is never issued without
being saved and announced, so numbers stay unique and gapless per prefix and day across crashes, and the centre's
copy converges on the site's once the uplink carries the outbox over, however long the centre was unreachable.
If the transaction fails, the in-memory queue is reloaded from the file, as if the input had never come.

A device message redelivered by the site broker (MQTT DUP after an agent crash) that the outbox already took is not
acted on again: one button press, one ticket.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from devices.clock_anchor import ClockNotReady
from devices.commands import Command
from devices.errors import PayloadRejected
from devices.events import TerminalData, TicketRequestData
from devices.queue_contract import (
    QUEUE_EVENT_NAME,
    QUEUE_SCHEMA,
    TAKE_ACTION,
    WINDOW_ACTION,
    QueueEventData,
    TakeArgs,
    WindowArgs,
    event_document,
    queue_time,
)
from devices.site import Site
from devices.timestamps import utc_now
from devices.topics import AGENT_DEVICE_ID, Channel
from edge.command_handler import CommandOutcome
from edge.outbox import Outbox, OutboxError
from edge.queue.engine import QueueOutcome, QueueRefusal, SiteQueue
from edge.queue.store import create_queue_tables, load_state, save_outcome
from edge.queue_outputs import QueueOutputs
from edge.sink import Outgoing

log = logging.getLogger(__name__)

# How often the queue looks at the clock by itself (day rollover), in seconds of the wall clock.
TICK_INTERVAL_S = 5.0


class SiteQueueService:
    """See the module doc. Also the :class:`edge.command_handler.CommandHandler` of ``_agent``'s queue actions."""

    actions = frozenset({TAKE_ACTION, WINDOW_ACTION})

    def __init__(
        self,
        site: Site,
        *,
        tz: tzinfo,
        outbox: Outbox,
        outputs: QueueOutputs | None,
        clock: Callable[[], datetime],
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.site = site
        self._tz = tz
        self._outbox = outbox
        self._outputs = outputs
        self._clock = clock  # the queue's clock: the wall clock, or a demo's simulated clock
        self._wall_clock = wall_clock  # envelopes' ts, which the centre checks against its own wall clock
        self._lock = threading.Lock()
        outbox.submit_all([], also=create_queue_tables)
        self._queue = self._load()
        self.refused: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._ticker = threading.Thread(target=self._tick_forever, name=f"queue-tick-{site.id}", daemon=True)

    @property
    def queue(self) -> SiteQueue:
        return self._queue

    def start(self) -> None:
        if self._outputs is not None:
            self._outputs.start()
        self._ticker.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._ticker.is_alive():
            self._ticker.join(timeout=5)
        if self._outputs is not None:
            self._outputs.stop()

    # --- inputs from the site's devices (the agent's MQTT thread) ----------------------------------------------

    def on_device_items(self, items: Sequence[Outgoing], *, vendor_payload: bytes, redelivered: bool) -> bool:
        """Act on a queue device's message and store its items with what it changed, in one transaction.

        Returns False when this was a redelivery already taken (nothing done, nothing stored again).
        OutboxError when the outbox could not take it (the message stays unacknowledged and comes again).
        """
        if not items:
            return True
        if redelivered and self._outbox.is_known_redelivery(items[0].device_id, vendor_payload):
            return False
        with self._lock:
            outcome = self._act_on(items[0])
            self._commit(items, outcome, vendor_payload=vendor_payload)
        if outcome is not None and self._outputs is not None:
            self._outputs.after(outcome.events)
        return True

    def _act_on(self, item: Outgoing) -> QueueOutcome | None:
        """The queue's answer to one device event; None when it changed nothing (refused, or not a queue input)."""
        try:
            now = self._now()
            if item.schema == "ticket_request.v1":
                request = TicketRequestData.model_validate(dict(item.data))
                return self._queue.take(service=request.service, now=now, source="dispenser", device=item.device_id)
            if item.schema == "terminal.v1":
                key = TerminalData.model_validate(dict(item.data))
                return self._queue.window_action(
                    window=key.window,
                    action=key.action,
                    now=now,
                    ticket=key.ticket,
                    to_window=key.to_window,
                    to_service=key.to_service,
                    staff=item.device_id,
                )
        except QueueRefusal as exc:
            self.refused[exc.code] += 1
            log.info("%s: %s refused by the queue (%s): %s", item.device_id, item.schema, exc.code, exc.detail)
        return None

    # --- commands from the centre (the command router's worker for _agent) ------------------------------------

    def execute(self, command: Command) -> CommandOutcome:
        try:
            args = command.typed_args()
        except PayloadRejected as exc:
            return CommandOutcome("rejected", exc.detail)
        try:
            with self._lock:
                outcome = self._command_outcome(command, args)
                self._commit([], outcome)
        except QueueRefusal as exc:
            self.refused[exc.code] += 1
            return CommandOutcome("failed", f"{exc.code}: {exc.detail}", {"code": exc.code})
        except OutboxError as exc:
            return CommandOutcome("failed", f"not saved: {exc}", {"code": "storage"})
        if self._outputs is not None:
            self._outputs.after(outcome.events)
        ticket = None if outcome.ticket is None else outcome.ticket.model_dump(mode="json")
        kinds = [event.kind for event in outcome.events]
        return CommandOutcome("done", data={"ticket": ticket, "events": kinds})

    def _command_outcome(self, command: Command, args: object) -> QueueOutcome:
        now = self._now()  # QueueRefusal before a demo's clock has started
        if isinstance(args, TakeArgs):
            appointment = None if args.appointment_at is None else _time_arg(args.appointment_at)
            return self._queue.take(
                service=args.service,
                now=now,
                source=args.source,
                priority=args.priority,
                appointment_at=appointment,
                request_id=command.command_id,
            )
        if isinstance(args, WindowArgs):
            return self._queue.window_action(
                window=args.window,
                action=args.action,
                now=now,
                ticket=args.ticket,
                to_window=args.to_window,
                to_service=args.to_service,
                staff=args.staff,
            )
        raise QueueRefusal("bad_request", f"the queue takes no {command.action!r}")

    # --- time ------------------------------------------------------------------------------------------------

    def _tick_forever(self) -> None:
        while not self._stopping.wait(TICK_INTERVAL_S):
            try:
                self.tick()
            except Exception:  # the ticker must never die; the next tick tries again
                log.exception("queue tick failed")

    def tick(self) -> None:
        """Let the queue see the time pass (a new day expires yesterday's tickets and starts numbering at 1)."""
        with self._lock:
            try:
                now = self._now()
            except QueueRefusal:  # a demo's simulated clock that has not started yet
                return
            outcome = self._queue.tick(now)
            if outcome.events:
                self._commit([], outcome)
        if outcome.events and self._outputs is not None:
            self._outputs.after(outcome.events)

    def _now(self) -> datetime:
        try:
            return self._clock()
        except ClockNotReady as exc:
            raise QueueRefusal("clock_not_ready", str(exc)) from None

    # --- storage ---------------------------------------------------------------------------------------------

    def _commit(
        self, items: Sequence[Outgoing], outcome: QueueOutcome | None, *, vendor_payload: bytes | None = None
    ) -> None:
        events = () if outcome is None else outcome.events
        announced = [*items, *(self._envelope(event) for event in events)]
        state = self._queue.state

        def save(db: sqlite3.Connection) -> None:
            if outcome is not None and (outcome.changed_tickets or outcome.changed_windows or events):
                save_outcome(db, state, outcome)

        try:
            self._outbox.submit_all(announced, also=save, vendor_payload=vendor_payload)
        except (OutboxError, ValueError):
            self._queue = self._load()  # forget what was not saved
            raise

    def _envelope(self, event: QueueEventData) -> Outgoing:
        return Outgoing(
            AGENT_DEVICE_ID,
            Channel.EVENT,
            QUEUE_EVENT_NAME,
            QUEUE_SCHEMA,
            self._wall_clock(),
            event_document(event),
            critical=True,
        )

    def _load(self) -> SiteQueue:
        state = self._outbox.read(load_state)
        return SiteQueue(self.site, tz=self._tz, state=state)


def _time_arg(text: str) -> datetime:
    try:
        return queue_time(text)
    except ValueError as exc:
        raise QueueRefusal("bad_request", f"appointment_at: {exc}") from None
