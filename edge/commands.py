"""The command router: ``<root>/v1/<site>/<device_id>/cmd/<action>`` messages to device handlers, and one
``command_result.v1`` answer per command (see :mod:`devices.commands` and :mod:`edge.command_handler`).

:meth:`CommandRouter.handle` runs on the MQTT client's callback thread and never blocks on a device: it checks the
command and answers ``rejected`` (bad payload with a readable id, unknown device, unsupported action, bad args) or
``expired`` itself; everything else goes into the addressed device's bounded queue. One worker thread per device
runs its commands one at a time; expiry is checked again when a command leaves the queue (a door is never unlocked
late), and a full queue is answered ``failed``. The handler runs on a thread of its own so that the worker can
answer ``failed`` after ``handler_timeout_s``; the worker still waits for a late handler to finish before the
device's next command, so two commands never reach one device at once.

QoS 1 may deliver a command twice. The router remembers the last ``remembered_ids`` command ids with their answers:
a redelivery of an answered command gets the stored answer again and is never executed twice (a door is not
unlocked twice); a redelivery of one still queued or running is dropped, since its answer is coming. A payload
that cannot be read at all (no readable ``command_id``) cannot be answered: it is logged and counted.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from devices.commands import Command, command_id_of, decode_command
from devices.errors import PayloadRejected
from devices.events import COMMAND_RESULT_SCHEMA, CommandResultData, CommandStatus, event_data
from devices.site import Site
from devices.topics import AGENT_DEVICE_ID, TOPIC_ROOT, Channel, parse_device_topic
from edge.command_handler import HANDLER_TIMEOUT_S, CommandHandler, CommandOutcome
from edge.sink import EnvelopeSink, Outgoing

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DEFAULT_QUEUE_SIZE = 16  # commands waiting per device; a display board gets a few a minute at most
DEFAULT_REMEMBERED_IDS = 4096  # command ids kept for redeliveries, which come within seconds of the original
MAX_DETAIL_CHARS = 500  # CommandResultData.detail


@dataclass(frozen=True, slots=True)
class _Queued:
    device_id: str
    command: Command
    handler: CommandHandler


class CommandRouter:
    """Routes the commands of ``site``'s devices to ``handlers`` (device id -> handler); see the module doc."""

    def __init__(
        self,
        site: Site,
        handlers: Mapping[str, CommandHandler],
        sink: EnvelopeSink,
        clock: Clock,
        *,
        root: str = TOPIC_ROOT,
        handler_timeout_s: float = HANDLER_TIMEOUT_S,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        queue_sizes: Mapping[str, int] | None = None,
        remembered_ids: int = DEFAULT_REMEMBERED_IDS,
    ) -> None:
        self.site = site
        self._handlers = dict(handlers)
        self._sink = sink
        self._clock = clock
        self._root = root
        self._handler_timeout_s = handler_timeout_s
        self._queue_size = queue_size
        self._queue_sizes = dict(queue_sizes or {})  # per device id, where one takes more than queue_size
        self._remembered_ids = remembered_ids
        self._lock = threading.Lock()
        # (device id, command id) -> (action, outcome); None while the command is queued or running.
        self._answers: OrderedDict[tuple[str, str], tuple[str, CommandOutcome] | None] = OrderedDict()
        self._queues: dict[str, queue.Queue[_Queued | None]] = {}
        self._workers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.counts: Counter[str] = Counter()

    # --- the MQTT callback side --------------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> None:
        """Take one received message; never raises, never waits for a device."""
        try:
            self._handle(topic, payload)
        except Exception:  # one bad message must not take the MQTT client's thread down
            self._count("errors")
            log.exception("command on %s: unexpected error", topic)

    def _handle(self, topic: str, payload: bytes) -> None:
        try:
            parsed = parse_device_topic(topic, root=self._root)
        except PayloadRejected as exc:
            self._count("bad_topic")
            log.warning("command topic refused: %s", exc.detail)
            return
        if parsed.channel is not Channel.CMD or parsed.is_command_result or parsed.name is None:
            return  # our own answers (and anything else a broad subscription brings) are not commands
        if parsed.site_id != self.site.id or (parsed.is_agent and parsed.device_id not in self._handlers):
            return  # another site's command, or one to the agent itself, which its own handler takes
        device_id, action = parsed.device_id, parsed.name
        try:
            command = decode_command(payload, action=action)
        except PayloadRejected as exc:
            command_id = command_id_of(payload)
            if command_id is None:
                self._count("undecodable")
                log.warning("%s: undecodable command on %s (no readable command_id): %s", device_id, topic, exc)
                return
            if self._first_delivery(device_id, command_id, action):
                self._answer(device_id, command_id, action, CommandOutcome("rejected", exc.detail))
            return
        if not self._first_delivery(device_id, command.command_id, action):
            return
        outcome = self._refusal(device_id, command)
        if outcome is not None:
            self._answer(device_id, command.command_id, action, outcome)
            return
        self._enqueue(_Queued(device_id, command, self._handlers[device_id]))

    def _refusal(self, device_id: str, command: Command) -> CommandOutcome | None:
        """The router's own answer (rejected or expired), or None when the handler should run the command."""
        if device_id != AGENT_DEVICE_ID and device_id not in {device.id for device in self.site.devices}:
            return CommandOutcome("rejected", f"no device {device_id!r} in site {self.site.id!r}")
        handler = self._handlers.get(device_id)
        if handler is None:
            return CommandOutcome("rejected", f"device {device_id!r} takes no commands")
        if command.action not in handler.actions:
            taken = ", ".join(sorted(handler.actions))
            return CommandOutcome("rejected", f"device {device_id!r} takes no {command.action!r} (only {taken})")
        try:
            command.typed_args()
        except PayloadRejected as exc:
            return CommandOutcome("rejected", exc.detail)
        return self._expiry(command)

    def _expiry(self, command: Command) -> CommandOutcome | None:
        now = self._clock()
        if not command.expired(now):
            return None
        return CommandOutcome("expired", f"expired at {command.expires_at.isoformat()}, now {now.isoformat()}")

    def _first_delivery(self, device_id: str, command_id: str, action: str) -> bool:
        """Remember the id; False for a redelivery, which is answered again here when its answer is known."""
        key = (device_id, command_id)
        with self._lock:
            known = key in self._answers
            stored = self._answers.get(key)
            if not known:
                self._answers[key] = None
                while len(self._answers) > self._remembered_ids:
                    self._answers.popitem(last=False)
        if not known:
            return True
        self._count("duplicates")
        if stored is None:
            log.info("%s: command %s delivered again while queued or running: its answer is coming", device_id, key)
        else:
            log.info("%s: command %s delivered again: answered again with %s", device_id, key, stored[1].status)
            self._submit(device_id, command_id, *stored)
        return False

    def _enqueue(self, item: _Queued) -> None:
        with self._lock:
            if self._stopping.is_set():
                work = None
            else:
                work = self._queues.get(item.device_id)
                if work is None:
                    work = self._start_worker(item.device_id)
        if work is None:
            self._answer(
                item.device_id, item.command.command_id, item.command.action, _not_run("the agent is stopping")
            )
            return
        try:
            work.put_nowait(item)
        except queue.Full:
            detail = f"device busy: {work.maxsize} commands already waiting"
            self._answer(item.device_id, item.command.command_id, item.command.action, _not_run(detail))

    # --- the per-device workers --------------------------------------------------------------------------------

    def _start_worker(self, device_id: str) -> queue.Queue[_Queued | None]:
        work: queue.Queue[_Queued | None] = queue.Queue(self._queue_sizes.get(device_id, self._queue_size))
        worker = threading.Thread(target=self._work, args=(work,), name=f"cmd-{device_id}", daemon=True)
        self._queues[device_id] = work
        self._workers.append(worker)
        worker.start()
        return work

    def _work(self, work: queue.Queue[_Queued | None]) -> None:
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cmd-handler") as executor:
            while (item := work.get()) is not None:
                command = item.command
                if self._stopping.is_set():
                    outcome: CommandOutcome | None = _not_run("the agent is stopping")
                else:
                    outcome = self._expiry(command)
                if outcome is None:
                    outcome = self._execute(executor, item)
                self._answer(item.device_id, command.command_id, command.action, outcome)

    def _execute(self, executor: concurrent.futures.ThreadPoolExecutor, item: _Queued) -> CommandOutcome:
        command = item.command
        running = executor.submit(item.handler.execute, command)
        try:
            return running.result(self._handler_timeout_s)
        except concurrent.futures.TimeoutError:
            outcome = CommandOutcome("failed", f"the device did not finish within {self._handler_timeout_s:g} s")
            # Answered now; the device's next command still waits for this one (one at a time per device).
            self._answer(item.device_id, command.command_id, command.action, outcome)
            concurrent.futures.wait([running])
            late = "raised" if running.exception() is not None else f"returned {running.result().status}"
            log.warning("%s: command %s %s after its timeout", item.device_id, command.command_id, late)
            return outcome
        except Exception as exc:
            log.exception("%s: handler failed on command %s", item.device_id, command.command_id)
            return CommandOutcome("failed", f"handler error: {type(exc).__name__}: {exc}")

    # --- answers -----------------------------------------------------------------------------------------------

    def _answer(self, device_id: str, command_id: str, action: str, outcome: CommandOutcome) -> None:
        """Record and submit the answer to a command, once: a second answer for the same id is dropped."""
        key = (device_id, command_id)
        with self._lock:
            if self._answers.get(key) is not None:
                return  # already answered (a handler that finished after its timeout)
            self._answers[key] = (action, outcome)
        self._count(outcome.status)
        self._submit(device_id, command_id, action, outcome)

    def _submit(self, device_id: str, command_id: str, action: str, outcome: CommandOutcome) -> None:
        try:
            data = _result_data(command_id, action, outcome.status, outcome.detail, outcome.data)
        except Exception as exc:  # a handler's data the wire cannot carry: the answer goes without it
            log.warning("%s: result data of command %s dropped: %s", device_id, command_id, exc)
            data = _result_data(command_id, action, outcome.status, outcome.detail, {})
        name = f"{action}/result"
        item = Outgoing(device_id, Channel.CMD, name, COMMAND_RESULT_SCHEMA, self._clock(), data, critical=True)
        try:
            self._sink.submit(item)
        except Exception:
            self._count("submit_failures")
            log.exception("%s: could not submit the %s result of command %s", device_id, outcome.status, command_id)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    @property
    def stopping(self) -> bool:
        """True once :meth:`close` was called: new and queued commands are answered ``failed``."""
        return self._stopping.is_set()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the workers; commands still queued are answered ``failed`` (not run)."""
        self._stopping.set()
        with self._lock:
            queues = list(self._queues.values())
        for work in queues:
            try:
                work.put(None, timeout=timeout_s)
            except queue.Full:
                log.warning("a command worker did not take its stop signal within %s s", timeout_s)
        for worker in self._workers:
            worker.join(timeout_s)


def _not_run(why: str) -> CommandOutcome:
    return CommandOutcome("failed", f"not run: {why}")


def _result_data(
    command_id: str, action: str, status: CommandStatus, detail: str, data: Mapping[str, object]
) -> dict[str, object]:
    result = CommandResultData(
        command_id=command_id, action=action, status=status, detail=detail[:MAX_DETAIL_CHARS], data=dict(data)
    )
    return event_data(result)
