"""``smartcomplex simulate scenario <name> --seed N --speed X``: plan, play, and write the ground truth."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from devices.broker import BrokerAddress
from devices.site import DAY_NAMES, Belt, Device, Site
from simulators.clock import ScenarioClock
from simulators.queue_devices import (
    QueueDeviceFleet,
    TicketDispenserSimulator,
    WindowTerminalSimulator,
    build_queue_simulators,
)
from simulators.scenario.booking_client import BookingApi, start_day_through_api
from simulators.scenario.drivers import (
    DISPENSER_MODEL,
    TERMINAL_MODEL,
    DriverFactory,
    DriverRegistry,
    TicketDispenserDriver,
    WindowTerminalDriver,
)
from simulators.scenario.errors import ScenarioError
from simulators.scenario.faults import DEFAULT_FAULT_DELAY, FaultOptions
from simulators.scenario.plan import SCENARIOS, build_plan
from simulators.scenario.runner import UplinkSwitch, run_scenario
from simulators.scenario.timeline import local_instant
from simulators.scenario.truth import write_truth

log = logging.getLogger(__name__)

DEFAULT_UPLINK_CUT = timedelta(minutes=10)  # simulated: at --speed 60, ten real seconds
_START = re.compile(r"^(?:(?P<date>\d{4}-\d{2}-\d{2})[ T]|(?P<day>[a-z]{3}) +)?(?P<hour>\d{1,2}):(?P<minute>\d{2})$")


@dataclass(frozen=True, slots=True)
class ScenarioStart:
    day: date  # local
    begin: datetime  # aware UTC


def parse_start(belt: Belt, text: str, *, today: datetime | None = None) -> ScenarioStart:
    """Where the simulated day begins, in the belt's local time: ``HH:MM`` (today), ``YYYY-MM-DD HH:MM``, or
    ``fri HH:MM`` (the next such weekday, today included). ValueError says what is accepted."""
    match = _START.match(text.strip().lower())
    hour, minute = (int(match["hour"]), int(match["minute"])) if match else (99, 99)
    if match is None or hour > 23 or minute > 59:
        raise ValueError(f"start {text!r} is not HH:MM, YYYY-MM-DD HH:MM or a weekday and HH:MM such as 'fri 13:00'")
    local_today = (today or datetime.now(UTC)).astimezone(belt.tz).date()
    if match["date"]:
        day = date.fromisoformat(match["date"])
    elif match["day"]:
        if match["day"] not in DAY_NAMES:
            raise ValueError(f"start {text!r}: {match['day']!r} is not one of {', '.join(DAY_NAMES)}")
        day = local_today + timedelta(days=(DAY_NAMES.index(match["day"]) - local_today.weekday()) % 7)
    else:
        day = local_today
    return ScenarioStart(day, local_instant(day, hour * 60 + minute, belt.tz))


def _fleet_driver(fleet: QueueDeviceFleet) -> DriverFactory:
    def driver(site: Site, device: Device) -> TicketDispenserDriver | WindowTerminalDriver:
        simulator = fleet.simulator(device.id)
        if not isinstance(simulator, TicketDispenserSimulator | WindowTerminalSimulator):
            raise ScenarioError(f"{device.id} is no dispenser or terminal")
        return simulator

    return driver


def run_scenario_command(
    belt: Belt,
    *,
    site_ids: list[str] | None,
    name: str,
    seed: int,
    speed: float,
    start_local: str,
    duration: timedelta | None,
    truth_path: Path | None,
    site_broker: BrokerAddress,
    stop: threading.Event,
    uplink_relay: UplinkSwitch | None = None,
    drivers: DriverRegistry | None = None,
    uplink_cut: timedelta = DEFAULT_UPLINK_CUT,
    today: datetime | None = None,
    lead_in_s: float = 0.0,
    booking_api: BookingApi | None = None,
) -> int:
    """Run one scenario; 0 when it ran, 2 for a bad request (logged in one line), 1 when devices could not start
    or the truth could not be written. Faults start a quarter into ``duration`` (one hour in at most).

    With ``booking_api`` the day's bookings are entered through the API and the server's clock follows the
    scenario's (simulators/scenario/booking_client.py); ``lead_in_s`` then also covers entering them."""
    if name not in SCENARIOS:
        log.error("no scenario %r; known: %s", name, ", ".join(SCENARIOS))
        return 2
    if speed <= 0 or (duration is not None and duration <= timedelta(0)):
        log.error("speed and duration must be positive")
        return 2
    if name == "uplink-cut" and uplink_relay is None:
        log.error("uplink-cut needs an uplink relay: route the edge agent's central broker through one")
        return 2
    try:
        start = parse_start(belt, start_local, today=today)
        end_of_day = local_instant(start.day, 24 * 60, belt.tz)
        until = min(start.begin + duration, end_of_day) if duration is not None else end_of_day
        delay = min(duration / 4, DEFAULT_FAULT_DELAY) if duration is not None else DEFAULT_FAULT_DELAY
        plan = build_plan(
            belt,
            site_ids=site_ids or [],
            day=start.day,
            seed=seed,
            scenario=name,
            begin=start.begin,
            faults=FaultOptions(start=start.begin + delay, uplink_cut=uplink_cut),
        )
    except (ValueError, ScenarioError) as exc:
        log.error("scenario %s: %s", name, exc)
        return 2
    log.info(
        "scenario %s (seed %d) at %gx: %s, %s local for %s; %d bookings, %d tickets, %d faults",
        name,
        seed,
        speed,
        ", ".join(plan.site_ids),
        start.begin.astimezone(belt.tz).strftime("%a %Y-%m-%d %H:%M"),
        until - start.begin,
        len(plan.bookings),
        len(plan.tickets),
        len(plan.faults),
    )
    clock = ScenarioClock(start=start.begin, speed=speed)
    # Without drivers given, the site file's MQTT queue devices are simulated here (display boards too, so the
    # centre's display commands are answered), and the scenario presses their buttons and keys.
    fleet = (
        QueueDeviceFleet(
            build_queue_simulators(
                [d for site_id in plan.site_ids for d in belt.site(site_id).devices], site_broker, seed=seed, tz=belt.tz
            )
        )
        if drivers is None
        else None
    )
    if fleet is not None:
        drivers = {model: _fleet_driver(fleet) for model in (DISPENSER_MODEL, TERMINAL_MODEL)}
    prepare_day: Callable[[], float] | None = None
    if booking_api is not None:
        api = booking_api

        def prepare_day() -> float:
            origin, _entered = start_day_through_api(
                plan,
                api,
                day_start=start.begin,
                speed=speed,
                until=until,
                lead_in_s=lead_in_s,
                stop=stop,
                monotonic=clock.monotonic,
            )
            return origin

    try:
        if fleet is not None:
            fleet.start()
        report = run_scenario(
            plan,
            belt,
            clock=clock,
            site_broker=site_broker,
            stop=stop,
            until=until,
            drivers=drivers,
            uplink=uplink_relay,
            lead_in_s=lead_in_s,
            prepare_day=prepare_day,
        )
    except ScenarioError as exc:
        log.error("scenario %s: %s", name, exc)
        return 1
    finally:
        if fleet is not None:
            fleet.stop()
    log.info(
        "scenario %s ran %s simulated: %d actions played, %d skipped, %d failed, %d sensor reports",
        name,
        report.ended - report.began,
        report.actions_played,
        report.actions_skipped,
        report.actions_failed,
        report.reports_published,
    )
    if truth_path is not None:
        try:
            write_truth(truth_path, plan, until=report.ended)
        except OSError as exc:
            log.error("cannot write the truth to %s: %s", truth_path, exc)
            return 1
        log.info("ground truth written to %s", truth_path)
    return 0
