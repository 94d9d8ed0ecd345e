"""Per-device health, online / stale / offline, from what the agent sees of each device; pure, times passed in.

What moves a device (``at`` is when the agent saw it; every call is thread-safe):

    seen(device_id, at)     an MQTT device's message arrived                      -> online
    polled(snapshot)        a Modbus poll: quality good -> online, stale (frozen registers) -> stale,
                            unreachable or fault (a Modbus exception response) -> offline
    lost(device_id, at)     the device said it is gone (a vendor last will)       -> offline
    tick(now)               the agent's timer, every few seconds: a device with no message or poll result for
                            ``stale_after_intervals`` report intervals goes stale (offline if it never reported
                            since the agent started), and offline after ``offline_after_intervals``

``tick`` only ever degrades (online -> stale -> offline); only a report brings a device back. A fault counts as
offline: the device answered, but with no data at all, so nothing from it reaches the centre. Every change of
state is published to the :class:`edge.sink.StatusSink` as an :class:`edge.sink.DeviceStatus` (``since`` = when
it entered the state, ``last_seen`` = its last good read or message); a report that keeps the state publishes
nothing. :meth:`DeviceHealth.annotate` republishes the current state with a new detail (a counter's closing drift),
and :meth:`DeviceHealth.republish` sends every known status again (after the agent reconnects to the centre).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from devices.site import Device
from edge.sink import DeviceState, DeviceStatus, StatusSink

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_DETAIL_CHARS = 500  # devices.device_status cuts a status detail to this length on decoding
DEFAULT_STALE_AFTER_INTERVALS = 3
DEFAULT_OFFLINE_AFTER_INTERVALS = 10

_STATE_OF_QUALITY: dict[str, DeviceState] = {
    "good": "online",
    "stale": "stale",
    "unreachable": "offline",
    "fault": "offline",
}


class PollResult(Protocol):
    """What :meth:`DeviceHealth.polled` needs of a poll (edge.modbus_poller.PointSnapshot has it)."""

    @property
    def device_id(self) -> str: ...

    @property
    def taken_at(self) -> datetime: ...

    @property
    def quality(self) -> str: ...

    @property
    def detail(self) -> str: ...


@dataclass
class _Tracked:
    interval: timedelta  # the device's report (MQTT) or poll (Modbus) interval
    last_report: datetime  # last message or poll result of any quality; the agent's start before the first
    last_seen: datetime | None = None
    status: DeviceStatus | None = None


class DeviceHealth:
    """Health of the devices given; reports about other ids are counted in ``unknown_reports`` and ignored."""

    def __init__(
        self,
        devices: Iterable[Device],
        status_sink: StatusSink,
        *,
        clock: Clock,
        stale_after_intervals: int = DEFAULT_STALE_AFTER_INTERVALS,
        offline_after_intervals: int = DEFAULT_OFFLINE_AFTER_INTERVALS,
    ) -> None:
        if not 1 <= stale_after_intervals <= offline_after_intervals:
            raise ValueError("need 1 <= stale_after_intervals <= offline_after_intervals")
        started_at = clock()
        self._devices = {
            device.id: _Tracked(timedelta(seconds=device.report_interval_s), started_at) for device in devices
        }
        self._sink = status_sink
        self._clock = clock
        self._stale_after = stale_after_intervals
        self._offline_after = offline_after_intervals
        self._lock = threading.Lock()
        self.unknown_reports: Counter[str] = Counter()
        self.publish_failures = 0

    def seen(self, device_id: str, at: datetime | None = None) -> None:
        """A message from ``device_id`` arrived at ``at`` (the agent's receive time, not the device's own clock;
        default: now). The device is online."""
        at = at or self._clock()
        with self._lock:
            tracked = self._tracked(device_id)
            if tracked is not None:
                self._report(device_id, tracked, at, "online", "", good=True)

    def polled(self, snapshot: PollResult) -> None:
        """A Modbus poll of the device finished (any quality)."""
        state = _STATE_OF_QUALITY.get(snapshot.quality, "offline")
        detail = "" if state == "online" else f"{snapshot.quality}: {snapshot.detail}"
        with self._lock:
            tracked = self._tracked(snapshot.device_id)
            if tracked is not None:
                self._report(snapshot.device_id, tracked, snapshot.taken_at, state, detail, good=state == "online")

    def lost(self, device_id: str, at: datetime | None = None, detail: str = "") -> None:
        """The device announced it is gone (a vendor last will): offline now."""
        at = at or self._clock()
        with self._lock:
            tracked = self._tracked(device_id)
            if tracked is not None:
                self._report(device_id, tracked, at, "offline", detail or "device reported itself offline", good=False)

    def annotate(self, device_id: str, detail: str) -> None:
        """Republish the device's current state with ``detail`` (kept until its state next changes)."""
        with self._lock:
            tracked = self._tracked(device_id)
            if tracked is not None and tracked.status is not None:
                self._publish(tracked, replace(tracked.status, detail=detail[:MAX_DETAIL_CHARS]))

    def tick(self, now: datetime | None = None) -> None:
        """Degrade devices that stopped reporting (see the module doc); call it every few seconds."""
        now = now or self._clock()
        with self._lock:
            for device_id, tracked in self._devices.items():
                silent_for = now - tracked.last_report
                stale_at = tracked.last_report + tracked.interval * self._stale_after
                offline_at = tracked.last_report + tracked.interval * self._offline_after
                state = tracked.status.state if tracked.status is not None else None
                silence = f"no report for {silent_for.total_seconds():.0f} s"
                if state is None and now > stale_at:
                    self._change(device_id, tracked, "offline", stale_at, "no report since the agent started")
                elif state in ("online", "stale") and now > offline_at:
                    self._change(device_id, tracked, "offline", offline_at, silence)
                elif state == "online" and now > stale_at:
                    self._change(device_id, tracked, "stale", stale_at, silence)

    def status_of(self, device_id: str) -> DeviceStatus | None:
        """The last status published for the device; None before its first."""
        with self._lock:
            tracked = self._devices.get(device_id)
            return tracked.status if tracked is not None else None

    def republish(self) -> None:
        """Publish every device's current status again (the centre's retained copy may be gone)."""
        with self._lock:
            for tracked in self._devices.values():
                if tracked.status is not None:
                    self._publish(tracked, tracked.status)

    # --- inside the lock ---------------------------------------------------------------------------------------

    def _tracked(self, device_id: str) -> _Tracked | None:
        tracked = self._devices.get(device_id)
        if tracked is None:
            self.unknown_reports[device_id] += 1
            if self.unknown_reports[device_id] == 1:
                log.warning("health report for %r, which is not a device of this agent: ignored", device_id)
        return tracked

    def _report(
        self, device_id: str, tracked: _Tracked, at: datetime, state: DeviceState, detail: str, *, good: bool
    ) -> None:
        tracked.last_report = max(tracked.last_report, at)
        if good:
            tracked.last_seen = at if tracked.last_seen is None else max(tracked.last_seen, at)
        if tracked.status is None or tracked.status.state != state:
            self._change(device_id, tracked, state, at, detail)

    def _change(self, device_id: str, tracked: _Tracked, state: DeviceState, since: datetime, detail: str) -> None:
        previous = tracked.status.state if tracked.status is not None else "unknown"
        log.info("%s: %s -> %s %s", device_id, previous, state, detail)
        self._publish(tracked, DeviceStatus(device_id, state, since, tracked.last_seen, detail[:MAX_DETAIL_CHARS]))

    def _publish(self, tracked: _Tracked, status: DeviceStatus) -> None:
        tracked.status = status
        try:
            self._sink.publish_status(status)
        except Exception:  # the next change or republish() sends the newest status again
            self.publish_failures += 1
            log.exception("%s: could not publish status %s", status.device_id, status.state)
