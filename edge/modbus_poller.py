"""Poll Modbus devices: one task and one connection per device, so a dead device only ever delays itself.

- The transport is injected (:class:`edge.modbus_reader.RegisterReader`); ``edge.modbus_reader.PymodbusReader``
  is the Modbus TCP one, with one lock per connection, timeouts and reconnect backoff.
- :class:`DevicePoller` reads every block of a device's register map every ``interval_s`` (+-10 % jitter, so
  devices polled together drift apart instead of hitting a shared gateway at the same instant), decodes with
  :func:`devices.codec.decode_block` and returns a frozen :class:`PointSnapshot`. A device whose "must change"
  points (e.g. the counter's uptime) keep the same value for ``stale_after`` polls is frozen: quality "stale".
  A failure is logged once when it starts and once when it ends; failed polls are counted per device.
- :class:`PollScheduler` runs one task per device and hands every snapshot to a callback; a callback that
  raises is logged and counted, never fatal.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from devices.codec import CodecError, PointValue, decode_block
from devices.registers import RegisterMap, Table
from devices.timestamps import utc_now
from edge.modbus_reader import DeviceFault, DeviceUnreachable, RegisterReader

log = logging.getLogger(__name__)

Quality = Literal["good", "stale", "unreachable", "fault"]
Clock = Callable[[], datetime]

DEFAULT_JITTER = 0.1  # +-10 % of the poll interval
DEFAULT_STALE_AFTER = 3  # polls with every must-change point unchanged


@dataclass(frozen=True, slots=True)
class PointSnapshot:
    """One poll of one device: every point's value (empty when unreachable or fault) and how far to trust it."""

    device_id: str
    taken_at: datetime  # aware UTC
    values: Mapping[str, PointValue]
    quality: Quality
    detail: str = ""

    def __post_init__(self) -> None:
        if self.taken_at.utcoffset() is None:
            raise ValueError(f"snapshot of {self.device_id!r}: taken_at {self.taken_at!r} is naive")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))


@dataclass
class _Health:
    """A device's failure state, so a failure is logged when it starts and when it ends, not every poll."""

    failing: Quality | None = None
    failed_polls: int = 0
    unchanged_polls: int = 0
    watched: dict[str, PointValue] | None = field(default=None)


class DevicePoller:
    """Polls one device; :meth:`poll_once` for one snapshot, :meth:`run` to poll every ``interval_s`` forever.

    ``must_change``: names of points that a live device always advances between polls (the counter's uptime);
    if all of them stay the same for ``stale_after`` consecutive polls the snapshot's quality is "stale".
    """

    def __init__(
        self,
        device_id: str,
        register_map: RegisterMap,
        reader: RegisterReader,
        *,
        unit: int = 1,
        interval_s: float = 5.0,
        jitter: float = DEFAULT_JITTER,
        must_change: Sequence[str] = (),
        stale_after: int = DEFAULT_STALE_AFTER,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        if interval_s <= 0 or not 0 <= jitter < 1 or stale_after < 1:
            raise ValueError("need interval_s > 0, 0 <= jitter < 1 and stale_after >= 1")
        for name in must_change:
            register_map.point(name)  # KeyError now rather than a device that never goes stale
        self.device_id = device_id
        self.register_map = register_map
        self.reader = reader
        self.unit = unit
        self.interval_s = interval_s
        self._jitter = jitter
        self._must_change = tuple(must_change)
        self._stale_after = stale_after
        self._clock = clock
        self._rng = rng or random.Random()
        self._health = _Health()
        self.callback_failures = 0

    @property
    def failed_polls(self) -> int:
        """Polls since start whose quality was not "good"."""
        return self._health.failed_polls

    async def poll_once(self) -> PointSnapshot:
        values: dict[str, PointValue] = {}
        quality: Quality = "good"
        detail = ""
        try:
            for table in Table:
                for block in self.register_map.blocks(table):
                    words = await self.reader.read(table, block, self.unit)
                    values.update(decode_block(self.register_map, table, block.start, words))
        except DeviceUnreachable as exc:
            values, quality, detail = {}, "unreachable", str(exc)
        except (DeviceFault, CodecError) as exc:
            values, quality, detail = {}, "fault", str(exc)
        except Exception as exc:  # a bug or an untranslated library error must not end every device's task
            log.exception("%s: unexpected error while polling", self.device_id)
            values, quality, detail = {}, "fault", f"unexpected {type(exc).__name__}: {exc}"
        if quality == "good" and self._frozen(values):
            quality = "stale"
            detail = f"{', '.join(self._must_change)} unchanged for {self._health.unchanged_polls} polls"
        snapshot = PointSnapshot(self.device_id, self._clock(), values, quality, detail)
        self._record(snapshot)
        return snapshot

    def _frozen(self, values: Mapping[str, PointValue]) -> bool:
        if not self._must_change:
            return False
        health = self._health
        watched = {name: values[name] for name in self._must_change}
        health.unchanged_polls = health.unchanged_polls + 1 if watched == health.watched else 0
        health.watched = watched
        return health.unchanged_polls >= self._stale_after

    def _record(self, snapshot: PointSnapshot) -> None:
        health = self._health
        if snapshot.quality == "good":
            if health.failing is not None:
                log.info("%s: %s ended after %d polls", self.device_id, health.failing, health.failed_polls)
            health.failing = None
            return
        health.failed_polls += 1
        if health.failing != snapshot.quality:
            log.warning("%s: %s: %s", self.device_id, snapshot.quality, snapshot.detail)
            health.failing = snapshot.quality

    def next_delay_s(self) -> float:
        """The interval with its jitter drawn: interval_s * (1 +- jitter)."""
        return self.interval_s * (1 + self._rng.uniform(-self._jitter, self._jitter))

    async def run(self, on_snapshot: Callable[[PointSnapshot], None]) -> None:
        """Poll until cancelled; deadlines are absolute so the period does not creep by the time a poll takes."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            snapshot = await self.poll_once()
            try:
                on_snapshot(snapshot)
            except Exception:  # one bad consumer must not stop the polling
                self.callback_failures += 1
                log.exception("%s: snapshot callback failed", self.device_id)
            delay_s = self.next_delay_s()
            due += delay_s
            if due < loop.time():
                # The poll overran (a timeout): wait a whole interval from now rather than bursting to catch up.
                due = loop.time() + delay_s
            await asyncio.sleep(due - loop.time())


class PollScheduler:
    """Runs every device's poller as its own task and closes their readers when stopped (cancelled)."""

    def __init__(self, pollers: Sequence[DevicePoller], on_snapshot: Callable[[PointSnapshot], None]) -> None:
        ids = [poller.device_id for poller in pollers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"device ids must be unique: {ids}")
        self.pollers = tuple(pollers)
        self._on_snapshot = on_snapshot

    @property
    def failed_polls(self) -> Mapping[str, int]:
        return MappingProxyType({poller.device_id: poller.failed_polls for poller in self.pollers})

    async def run(self) -> None:
        """Poll every device until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                for poller in self.pollers:
                    group.create_task(poller.run(self._on_snapshot), name=f"poll-{poller.device_id}")
        finally:
            for poller in self.pollers:
                poller.reader.close()
