"""Play a scenario plan on an accelerated clock against the devices of a running system.

The clock only decides WHAT happens WHEN (simulated time); vendor payloads are stamped with the wall clock, since
the server refuses readings from the future. Each pass of the loop plays every action due before the simulated
"now" (capped at ``until``), lets every sensor report, then sleeps until the next action or the next sensor tick.
One action that fails is logged and counted; the run goes on.
"""

from __future__ import annotations

import bisect
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from devices.broker import BrokerAddress
from devices.mqtt_link import MqttLink
from devices.site import Belt
from simulators.clock import ScenarioClock
from simulators.occupancy_sensor import VendorReport
from simulators.scenario.drivers import DriverRegistry
from simulators.scenario.errors import ScenarioError
from simulators.scenario.plan import ScenarioPlan
from simulators.scenario.players import DevicePlayers
from simulators.scenario.schedule import Action, FaultBegins, FaultEnds, device_actions

log = logging.getLogger(__name__)

SIMULATED_TICK = timedelta(seconds=10)  # sensors re-read their count at least this often (simulated)
MIN_REAL_TICK_S = 0.05
MIN_WAIT_S = 0.005  # never spin: at very high speeds several actions are played per pass instead
BROKER_WAIT_S = 10.0


class UplinkSwitch(Protocol):
    """Cuts and restores the uplink between an edge agent and the central broker (simulators.netfault.TcpRelay)."""

    def cut(self) -> None: ...

    def restore(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RunReport:
    began: datetime  # simulated
    ended: datetime  # simulated: everything planned before it was played
    actions_played: int
    actions_skipped: int  # for devices with no simulator or driver
    actions_failed: int
    reports_published: int


def run_scenario(
    plan: ScenarioPlan,
    belt: Belt,
    *,
    clock: ScenarioClock,
    site_broker: BrokerAddress,
    stop: threading.Event,
    until: datetime | None = None,
    drivers: DriverRegistry | None = None,
    uplink: UplinkSwitch | None = None,
    on_report: Callable[[datetime, VendorReport], None] | None = None,
    on_tick: Callable[[datetime], None] | None = None,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    lead_in_s: float = 0.0,
    prepare_day: Callable[[], float] | None = None,
) -> RunReport:
    """Play ``plan`` from ``clock.start`` until ``until`` (or ``stop``). ScenarioError if a device cannot be
    served or an uplink cut has no ``uplink`` to cut. ``on_tick`` gets the simulated instant after each pass.

    ``lead_in_s``: real seconds the devices run idle before the simulated day starts, so that a system started
    alongside (edge agents subscribing, pollers making first contact) sees the day from its first event.
    ``prepare_day``: called once the devices are up, instead of the plain lead-in; it tells the system under test
    what it must know before the day (its bookings, its clock) and returns the ``clock.monotonic()`` instant the
    day starts (simulators/scenario/booking_client.py)."""
    if uplink is None and any(f.kind == "uplink-cut" for f in plan.faults):
        raise ScenarioError("uplink-cut needs an uplink relay to cut (simulators.netfault.TcpRelay)")
    actions = device_actions(plan, belt)
    players = DevicePlayers(plan, belt, drivers=drivers)
    players.start()
    link = MqttLink(site_broker, client_id=f"sc-scenario-{uuid.uuid4().hex[:8]}")
    link.start()
    if not link.wait_connected(BROKER_WAIT_S):
        log.warning("scenario: site broker %s not reachable yet; sensor reports wait until it is", site_broker)
    run = _Run(players, link, uplink, on_report)
    index = bisect.bisect_left(actions, clock.start, key=lambda action: action.at)  # earlier ones did not happen
    tick_s = max(MIN_REAL_TICK_S, clock.real_seconds(SIMULATED_TICK))
    horizon = clock.start
    try:
        origin = clock.monotonic() + lead_in_s if prepare_day is None else prepare_day()
        wait_s = origin - clock.monotonic()
        if wait_s > 0:
            log.info("scenario: devices up; the simulated day starts in %.1f s", wait_s)
            stop.wait(wait_s)
        clock.start_at(origin)
        while True:
            now = clock.now()
            horizon = now if until is None else min(now, until)
            while index < len(actions) and actions[index].at < horizon:
                run.play(actions[index])
                index += 1
            run.publish(players.sensor_reports(horizon, wall_clock()), horizon)
            if on_tick is not None:
                on_tick(horizon)
            if stop.is_set() or (until is not None and now >= until):
                break
            wait_s = tick_s
            if index < len(actions):
                wait_s = min(wait_s, clock.real_seconds(actions[index].at - now))
            stop.wait(max(MIN_WAIT_S, wait_s))
    finally:
        run.close()
        players.stop()
        link.stop()
    skipped = sum(players.skipped.values())
    if skipped:
        log.info("scenario: %d actions had no device to play them: %s", skipped, dict(players.skipped))
    return RunReport(clock.start, horizon, run.played, skipped, run.failed, run.published)


class _Run:
    def __init__(
        self,
        players: DevicePlayers,
        link: MqttLink,
        uplink: UplinkSwitch | None,
        on_report: Callable[[datetime, VendorReport], None] | None,
    ) -> None:
        self.players = players
        self.link = link
        self.uplink = uplink
        self.uplink_cut = False
        self.on_report = on_report
        self.played = self.failed = self.published = 0

    def play(self, action: Action) -> None:
        try:
            if isinstance(action, FaultBegins | FaultEnds):
                self.fault(action)
            elif self.players.apply(action):
                self.played += 1
        except Exception:
            # A device or driver that fails one action must not end the day for every other device.
            self.failed += 1
            log.exception("scenario: playing %s failed", action)

    def fault(self, action: FaultBegins | FaultEnds) -> None:
        fault, begins = action.fault, isinstance(action, FaultBegins)
        log.warning(
            "scenario: %s %s%s",
            fault.kind,
            "begins" if begins else "ends",
            f" ({fault.device})" if fault.device else "",
        )
        if fault.kind == "uplink-cut" and self.uplink is not None:
            if begins:
                self.uplink.cut()
            else:
                self.uplink.restore()
            self.uplink_cut = begins
        elif begins:
            self.players.begin_fault(fault)
        else:
            self.players.end_fault(fault)
        self.played += 1

    def publish(self, reports: list[VendorReport], simulated_now: datetime) -> None:
        for report in reports:
            try:
                self.link.publish(report.topic, report.payload, qos=1)
            except Exception:
                self.failed += 1
                log.exception("scenario: publishing to %s failed", report.topic)
                continue
            self.published += 1
            if self.on_report is not None:
                self.on_report(simulated_now, report)

    def close(self) -> None:
        """Leave the system whole: an uplink still cut at the end of the run is restored."""
        if self.uplink_cut and self.uplink is not None:
            try:
                self.uplink.restore()
            except Exception:
                log.exception("scenario: restoring the uplink failed")
