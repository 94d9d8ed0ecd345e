"""A Modbus door controller (devices.catalogue.DOOR_CONTROLLER): badge reads and door state in, ``unlock`` out.

Telemetry, from every good poll (on the Modbus loop); both kinds are ``critical`` (never dropped by the outbox):

- ``access.v1``: ``card_events`` (16-bit, wraps) moved by n since the last poll -> one event for ``last_card``
  with ``missed`` = n - 1: the reads in between were overwritten before any poll saw them (or happened while
  the device could not be read). A jump above :data:`MAX_READS_BETWEEN_POLLS` is a reset of the controller, not
  reads: a new baseline, logged, no event.
- ``door.v1``: the door contact, request-to-exit button or strike coil differ from the last poll; the first good
  poll after start sends the state as it is (the centre learns what changed while the agent was away).

The first poll sets the badge baseline and invents no read. Reads made while the agent was down: with a
:class:`CardCounterStore` (the agent's state directory) the baseline is the last counter value seen before the
stop, so the first poll's jump is reported as one event for the latest card with the rest as ``missed``; without
one, they are not reported (the counter since power-up says nothing about when the agent stopped).

``unlock {seconds}``: energise the strike coil (FC05), answer ``done`` once the device took it, and release it
``seconds`` later from a task on the Modbus loop, which retries until the device takes it, whatever the command
path is doing. A second unlock extends the release time. The strike is never left energised by us:

- a strike found energised by a poll while no release is pending (the previous agent run died between unlock and
  release, or another master set it) is released at once, with a warning;
- :meth:`DoorControllerAdapter.shutdown` releases a pending strike when the agent stops;
- if the set write times out the release is scheduled anyway: the device may have taken it.
What this cannot cover is an agent that dies and never comes back: the strike hardware's own pulse timer (set on
the relay module) is the last line, as for any networked door.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Protocol

from devices.catalogue import DOOR_CONTROLLER
from devices.commands import Command, UnlockArgs
from devices.counters import counter_delta
from devices.events import ACCESS_SCHEMA, DOOR_SCHEMA, AccessData, DoorData, event_data
from devices.registers import RegisterMap
from devices.site import Device
from devices.topics import Channel
from edge.command_handler import HANDLER_TIMEOUT_S, CommandOutcome
from edge.modbus_poller import PointSnapshot
from edge.modbus_reader import PollError, RegisterClient, write_points
from edge.modbus_runtime import ModbusRuntime
from edge.sink import EnvelopeSink, Outgoing

log = logging.getLogger(__name__)

CARD_EVENT_BITS = 16
# More reads than this between two polls (or across an agent restart) means the controller's counter restarted.
MAX_READS_BETWEEN_POLLS = 10_000
RELEASE_RETRY_S = 1.0  # between attempts to release a strike the device did not take


class CardCounterStore(Protocol):
    """Where a door's last seen ``card_events`` survives an agent restart."""

    def load(self, device_id: str) -> int | None: ...

    def save(self, device_id: str, card_events: int) -> None: ...


class CardCounterFile:
    """A :class:`CardCounterStore` in one small JSON file, replaced atomically on every save (badge reads are
    seconds apart at the busiest door)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            loaded = {}
        except (OSError, ValueError) as exc:
            log.warning("%s unreadable (%s): door counters start from the next poll", path, exc)
            loaded = {}
        self._values: dict[str, int] = {
            key: value
            for key, value in (loaded.items() if isinstance(loaded, dict) else ())
            if type(value) is int and 0 <= value < 1 << CARD_EVENT_BITS
        }

    def load(self, device_id: str) -> int | None:
        return self._values.get(device_id)

    def save(self, device_id: str, card_events: int) -> None:
        self._values[device_id] = card_events
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as file:
            json.dump(self._values, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self._path)


class DoorControllerAdapter:
    """One door controller; a :class:`edge.command_handler.CommandHandler` for ``unlock``."""

    register_map: RegisterMap = DOOR_CONTROLLER
    must_change: tuple[str, ...] = ()  # nothing on the controller moves by itself

    def __init__(
        self,
        device: Device,
        *,
        client: RegisterClient,
        runtime: ModbusRuntime,
        sink: EnvelopeSink,
        card_counters: CardCounterStore | None = None,
        write_timeout_s: float = HANDLER_TIMEOUT_S / 2,
    ) -> None:
        self.device_id = device.id
        self.unit = 1 if device.unit is None else device.unit
        self._client = client
        self._runtime = runtime
        self._sink = sink
        self._card_counters = card_counters
        self._write_timeout_s = write_timeout_s
        self._card_events: int | None = None
        self._door: DoorData | None = None
        # Loop time (monotonic s) the strike is due to be released; None when we hold no strike. Loop thread only.
        self._release_due: float | None = None
        self._orphan_polls = 0  # consecutive good polls that found the strike energised with no release pending

    @property
    def actions(self) -> frozenset[str]:
        return frozenset({"unlock"})

    # --- telemetry (on the Modbus loop) ------------------------------------------------------------------------

    def on_snapshot(self, snapshot: PointSnapshot) -> None:
        if snapshot.quality != "good":
            return  # baselines kept: the next good poll counts what happened meanwhile
        values = snapshot.values
        self._card_read(snapshot, int(values["card_events"]), int(values["last_card"]))
        door = DoorData(
            closed=bool(values["door_closed"]),
            exit_requested=bool(values["exit_requested"]),
            strike_released=bool(values["strike_released"]),
        )
        if door != self._door:
            self._door = door
            self._submit(DOOR_SCHEMA, "door", snapshot, event_data(door))
        # Two polls in a row, since one poll may have read the coil just before our own release took it.
        orphaned = door.strike_released and self._release_due is None
        self._orphan_polls = self._orphan_polls + 1 if orphaned else 0
        if self._orphan_polls >= 2:
            log.warning("%s: strike energised with no unlock pending (an earlier run's?): releasing", self.device_id)
            self._schedule_release(0.0)

    def _card_read(self, snapshot: PointSnapshot, card_events: int, last_card: int) -> None:
        previous = self._card_events
        if previous is None and self._card_counters is not None:
            previous = self._card_counters.load(self.device_id)
        self._card_events = card_events
        if previous == card_events:
            return
        reads = None if previous is None else counter_delta(previous, card_events, CARD_EVENT_BITS)
        if reads is None:
            log.info("%s: badge counter baseline %d", self.device_id, card_events)
        elif reads > MAX_READS_BETWEEN_POLLS:
            log.warning("%s: badge counter went %s -> %d: controller reset?", self.device_id, previous, card_events)
        else:
            access = AccessData(card=str(last_card), reads=card_events, missed=reads - 1)
            self._submit(ACCESS_SCHEMA, "access", snapshot, event_data(access))
        # Saved after the event is in the outbox: a crash in between reports the read again rather than never.
        if self._card_counters is not None:
            self._card_counters.save(self.device_id, card_events)

    def _submit(self, schema: str, name: str, snapshot: PointSnapshot, data: dict[str, object]) -> None:
        item = Outgoing(self.device_id, Channel.EVENT, name, schema, snapshot.taken_at, data, critical=True)
        self._sink.submit(item)

    # --- unlock ------------------------------------------------------------------------------------------------

    def execute(self, command: Command) -> CommandOutcome:
        """Called on a command worker thread: the write runs on the Modbus loop, behind its polls."""
        args = command.typed_args()
        if not isinstance(args, UnlockArgs):
            return CommandOutcome("rejected", f"{self.device_id} takes no {command.action!r}")
        try:
            self._runtime.run(self._unlock(args.seconds), self._write_timeout_s)
        except (PollError, TimeoutError) as exc:
            return CommandOutcome(
                "failed", f"door not unlocked: {exc} (its release is scheduled in case the device took the write)"
            )
        return CommandOutcome("done", f"unlocked for {args.seconds} s", {"seconds": args.seconds})

    async def _unlock(self, seconds: int) -> None:
        # The release is scheduled before the write: if the write times out the device may still have taken it.
        self._schedule_release(seconds)
        await write_points(self._client, self.register_map, {"strike_released": True}, self.unit)
        log.info("%s: unlocked for %d s", self.device_id, seconds)

    def _schedule_release(self, after_s: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + after_s
        if self._release_due is not None:
            self._release_due = max(self._release_due, due)  # the release task already waits for it
            return
        self._release_due = due
        self._runtime.spawn(self._release_when_due(), name=f"release-{self.device_id}")

    async def _release_when_due(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while self._release_due is not None:
            wait_s = self._release_due - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
                continue
            try:
                await write_points(self._client, self.register_map, {"strike_released": False}, self.unit)
            except PollError as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "%s: strike release not taken, retrying every %s s: %s", self.device_id, RELEASE_RETRY_S, exc
                    )
                await asyncio.sleep(RELEASE_RETRY_S)
                continue
            due = self._release_due
            if due is None or due <= loop.time():  # not extended by an unlock while the write was under way
                self._release_due = None
                log.info("%s: strike released%s", self.device_id, f" after {failures} failed tries" if failures else "")

    async def shutdown(self) -> None:
        """The agent is stopping: release a strike we hold now rather than leave it to a timer that dies with us."""
        if self._release_due is None:
            return
        try:
            await write_points(self._client, self.register_map, {"strike_released": False}, self.unit)
            self._release_due = None
            log.info("%s: strike released early: the agent is stopping", self.device_id)
        except PollError as exc:
            log.error("%s: could not release the strike while stopping: %s", self.device_id, exc)
