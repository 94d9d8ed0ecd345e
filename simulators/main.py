"""Entry points of the simulators, called by the ``smartcomplex simulate`` command line."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from devices.broker import parse_broker_url
from devices.site import Belt
from simulators.clock import ScenarioClock
from simulators.sensors import build_sensors, day_start, run_sensors

log = logging.getLogger(__name__)


def run_sensor_simulation(
    belt: Belt,
    *,
    sites: list[str] | None,
    broker_url: str,
    speed: float,
    seed: int,
    start: str,
    duration_min: float | None,
    stop: threading.Event,
) -> int:
    try:
        chosen = [belt.site(site_id) for site_id in sites] if sites else list(belt.sites)
    except KeyError as exc:
        log.error("%s", exc)
        return 2
    sensors = build_sensors(belt, chosen, seed=seed)
    clock = ScenarioClock(start=day_start(belt, at=start), speed=speed)
    log.info("simulating %d occupancy sensors at %gx from %s local", len(sensors), speed, start)
    published = run_sensors(
        sensors,
        broker=parse_broker_url(broker_url),
        clock=clock,
        stop=stop,
        duration=timedelta(minutes=duration_min) if duration_min is not None else None,
    )
    log.info("simulated sensors stopped after %d reports", published)
    return 0
