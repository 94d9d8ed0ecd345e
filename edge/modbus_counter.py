"""A Modbus people counter (devices.catalogue.people_counter_map) as an occupancy sensor of its space.

Fed every poll's :class:`edge.modbus_poller.PointSnapshot` (on the Modbus loop), it keeps the space's occupancy
with :class:`edge.counter_occupancy.CounterOccupancy` (wrap-aware, never negative, device resets detected) and
submits ``occupancy.v1`` readings: ``people`` = the count, ``occupied`` = people > 0, no regions; trigger
``change`` when the count differs from the last one sent (or after the count was unknown), otherwise ``interval``
once per ``report_interval_s``. A stale (frozen uptime), unreachable or faulty poll sends nothing: the count is
unknown, and the device's status (edge.device_health, fed by the same polls) says why.

At the space's closing time (the end of the day's last opening interval, belt time zone) the occupancy is reset to
zero. The drift found then (people still counted inside: missed "out" crossings; people clamped at zero during the
day: missed "in" crossings) is logged (a warning when nonzero) and put in the device's status detail, where it
stays until the status next changes; :attr:`PeopleCounterAdapter.last_closing` keeps the latest report. A reading
of 0 follows the reset when the count sent last was not 0.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, tzinfo

from devices.catalogue import people_counter_map
from devices.readings import OCCUPANCY_SCHEMA, OccupancyReading, Trigger, occupancy_data
from devices.registers import RegisterMap, WordOrder
from devices.site import Device, OpeningHours
from devices.topics import Channel
from edge.counter_occupancy import ClosingReport, CounterOccupancy, latest_closing
from edge.device_health import DeviceHealth
from edge.modbus_poller import PointSnapshot
from edge.sink import EnvelopeSink, Outgoing

log = logging.getLogger(__name__)

# An "interval" reading is due this fraction of report_interval_s early: polls come every report_interval_s
# +-10 % (edge.modbus_poller's jitter), and a poll that comes a little early must still carry the reading.
INTERVAL_SLACK = 0.2


class PeopleCounterAdapter:
    """One people counter; ``hours`` are its space's opening hours, ``tz`` the belt's time zone."""

    # A live counter module's uptime (seconds) advances between any two polls; frozen registers do not.
    must_change: tuple[str, ...] = ("uptime",)

    def __init__(
        self,
        device: Device,
        *,
        hours: OpeningHours,
        tz: tzinfo,
        sink: EnvelopeSink,
        health: DeviceHealth | None = None,
        occupancy: CounterOccupancy | None = None,
    ) -> None:
        self.device_id = device.id
        self.register_map: RegisterMap = people_counter_map(WordOrder(device.word_order or "big"))
        self._interval = timedelta(seconds=device.report_interval_s)
        self._hours = hours
        self._tz = tz
        self._sink = sink
        self._health = health
        self._occupancy = occupancy or CounterOccupancy()
        self._last_sent: tuple[int, datetime] | None = None  # (people, taken_at) of the last reading submitted
        self._closing_handled: datetime | None = None
        self._closing_noted = False
        self._fed = False
        self.last_closing: ClosingReport | None = None

    @property
    def occupancy(self) -> int | None:
        """People in the space now; None while unknown."""
        return self._occupancy.occupancy

    def on_snapshot(self, snapshot: PointSnapshot) -> None:
        if snapshot.device_id != self.device_id:
            raise ValueError(f"{self.device_id}: snapshot of {snapshot.device_id!r}")
        update = self._occupancy.feed(snapshot)
        if update.baseline_reset and self._fed:
            log.warning("%s: %s", self.device_id, update.detail)
        elif update.clamped:
            log.info("%s: %s", self.device_id, update.detail)
        self._fed = True
        self._close_if_due(snapshot.taken_at)
        people = self._occupancy.occupancy
        if people is None:
            self._last_sent = None  # the next known count is sent at once, as a change
            return
        if self._last_sent is None or people != self._last_sent[0]:
            self._send(people, "change", snapshot.taken_at)
        elif snapshot.taken_at - self._last_sent[1] >= self._interval * (1 - INTERVAL_SLACK):
            self._send(people, "interval", snapshot.taken_at)

    def _close_if_due(self, at: datetime) -> None:
        """Reset at the first poll past a closing time; the poll was counted first, so people who left just
        before closing are not mistaken for drift."""
        closing = latest_closing(self._hours, self._tz, at)
        handled, self._closing_handled = self._closing_handled, closing
        if not self._closing_noted:
            self._closing_noted = True  # the first poll only notes the last closing: a fresh agent starts at zero
            return
        if closing is None or (handled is not None and closing <= handled):
            return
        report = self._occupancy.reset(closing)
        self.last_closing = report
        local = closing.astimezone(self._tz).strftime("%Y-%m-%d %H:%M")
        if report.left_over is None:
            detail = f"closing reset at {local}: count unknown at closing, counting starts anew at the next reading"
        else:
            detail = (
                f"closing reset at {local}: {report.left_over} still counted inside (missed 'out' crossings), "
                f"{report.clamped_since_last_close} clamped at zero since the last closing (missed 'in' crossings)"
            )
        drift = bool(report.left_over) or report.clamped_since_last_close > 0
        log.log(logging.WARNING if drift else logging.INFO, "%s: %s", self.device_id, detail)
        if self._health is not None:
            self._health.annotate(self.device_id, detail)

    def _send(self, people: int, trigger: Trigger, at: datetime) -> None:
        reading = OccupancyReading(people=people, occupied=people > 0, regions=(), trigger=trigger)
        item = Outgoing(self.device_id, Channel.EVENT, "occupancy", OCCUPANCY_SCHEMA, at, occupancy_data(reading))
        self._sink.submit(item)
        self._last_sent = (people, at)
