"""Run every simulated MQTT occupancy sensor of some sites against a broker, on a scenario clock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from devices.broker import BrokerAddress
from devices.mqtt_link import MqttLink
from devices.site import Belt, Site
from devices.vendors.milesight_vs121 import VS121_MODEL
from simulators.clock import ScenarioClock
from simulators.occupancy_sensor import VendorReport, Vs121Simulator

log = logging.getLogger(__name__)

# Sensors re-evaluate their count this often in simulated time; reports go out on change and on their interval.
SIMULATED_TICK = timedelta(seconds=10)
# Never tick faster than this on the wall clock, whatever the speed (seconds).
MIN_REAL_TICK_S = 0.1


def build_sensors(belt: Belt, sites: Iterable[Site], *, seed: int) -> list[Vs121Simulator]:
    tz = belt.tz
    return [
        Vs121Simulator(device=device, space=site.space(device.space), tz=tz, seed=seed)
        for site in sites
        for device in site.devices
        if device.model == VS121_MODEL and device.transport == "mqtt"
    ]


def run_sensors(
    sensors: list[Vs121Simulator],
    *,
    broker: BrokerAddress,
    clock: ScenarioClock,
    stop: threading.Event,
    duration: timedelta | None = None,
    on_report: Callable[[VendorReport], None] | None = None,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Publish until ``stop`` is set (or ``duration`` of simulated time passed); returns the reports published."""
    link = MqttLink(broker, client_id=f"sc-sim-sensors-{id(stop):x}")
    link.start()
    if not link.wait_connected(10):
        log.warning("simulated sensors: broker %s not reachable yet; reports are queued until it is", broker)
    end = clock.now() + duration if duration is not None else None
    tick_s = max(MIN_REAL_TICK_S, clock.real_seconds(SIMULATED_TICK))
    published = 0
    try:
        while not stop.is_set():
            simulated_now = clock.now()
            if end is not None and simulated_now >= end:
                break
            wall_now = wall_clock()
            for sensor in sensors:
                for report in sensor.step(simulated_now, wall_now):
                    link.publish(report.topic, report.payload, qos=1)
                    published += 1
                    if on_report is not None:
                        on_report(report)
            stop.wait(tick_s)
    finally:
        link.stop()
    return published


def day_start(belt: Belt, *, at: str = "08:30", today: datetime | None = None) -> datetime:
    """Today's ``at`` (HH:MM) in the belt's local time, as an aware datetime: where a simulated day begins."""
    local_today = (today or datetime.now(UTC)).astimezone(belt.tz)
    hour, minute = (int(part) for part in at.split(":"))
    return local_today.replace(hour=hour, minute=minute, second=0, microsecond=0)
