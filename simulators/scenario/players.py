"""The devices a scenario run drives, and how one action or fault reaches each.

- Modbus devices of the site file are served where the file says (``host:port``), so a running edge agent polls
  them: people counters, door controllers, LED boards (the boards only show what the system writes).
- VS121 sensors are :class:`~simulators.occupancy_sensor.Vs121Simulator` fed with the plan's true counts.
- Ticket dispensers and window terminals are drivers from the registry (see :mod:`.drivers`).

Devices are found by model name, so models added to the site file later are skipped, not fatal.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from devices.registers import WordOrder
from devices.site import Belt, Device, Site
from simulators.modbus_device import Fault, SimulatorError
from simulators.modbus_models import (
    DoorControllerSimulator,
    LedBoardSimulator,
    ModbusModelSimulator,
    PeopleCounterSimulator,
)
from simulators.occupancy_sensor import VendorReport, Vs121Simulator
from simulators.scenario.drivers import (
    DOOR_CONTROLLER_MODEL,
    LED_BOARD_MODEL,
    PEOPLE_COUNTER_MODEL,
    ClosableDriver,
    DriverRegistry,
    TicketDispenserDriver,
    WindowTerminalDriver,
)
from simulators.scenario.errors import ScenarioError
from simulators.scenario.faults import FaultSpec
from simulators.scenario.plan import ScenarioPlan
from simulators.scenario.schedule import Badge, Cross, DeviceAction, Key, Press, sensor_feeds
from simulators.scenario.timeline import people_at

log = logging.getLogger(__name__)

_JUST_BEFORE = timedelta(microseconds=1)


def _modbus_simulator(device: Device, seed: int) -> ModbusModelSimulator | None:
    host, port = str(device.host), int(device.port or 0)
    if device.model == PEOPLE_COUNTER_MODEL:
        word_order = WordOrder(getattr(device, "word_order", None) or "big")
        return PeopleCounterSimulator(seed=seed, word_order=word_order, host=host, port=port, live_uptime=True)
    if device.model == DOOR_CONTROLLER_MODEL:
        return DoorControllerSimulator(host=host, port=port)
    if device.model == LED_BOARD_MODEL:
        return LedBoardSimulator(host=host, port=port)
    return None


class DevicePlayers:
    def __init__(self, plan: ScenarioPlan, belt: Belt, *, drivers: DriverRegistry | None = None) -> None:
        self._plan = plan
        self._sites: list[Site] = [belt.site(site_id) for site_id in plan.site_ids]
        self._registry = drivers or {}
        self.modbus: dict[str, ModbusModelSimulator] = {}
        self.drivers: dict[str, TicketDispenserDriver | WindowTerminalDriver] = {}
        self.sensors = [
            (
                feed,
                Vs121Simulator(
                    device=feed.device, space=belt.site(feed.site).space(feed.device.space), tz=belt.tz, seed=plan.seed
                ),
            )
            for feed in sensor_feeds(plan, belt)
        ]
        self.silent: set[str] = set()
        self.skipped: Counter[str] = Counter()  # device id -> actions with nothing to play them on

    def start(self) -> None:
        """Serve every Modbus device and build every driver; ScenarioError (nothing left running) if one fails."""
        try:
            self._start_modbus()
        except ScenarioError:
            self.stop()
            raise
        for site in self._sites:
            for device in site.devices:
                factory = self._registry.get(device.model)
                if factory is None:
                    continue
                try:
                    self.drivers[device.id] = factory(site, device)
                except Exception:
                    log.exception("no driver for %s (%s): its actions are skipped", device.id, device.model)

    def _start_modbus(self) -> None:
        served: dict[tuple[str, int], str] = {}
        for site in self._sites:
            for device in site.devices:
                if device.transport != "modbus":
                    continue
                address = (str(device.host), int(device.port or 0))
                if address in served:
                    raise ScenarioError(
                        f"{device.id} and {served[address]} share {address[0]}:{address[1]}; a simulator serves"
                        " one device per port: give each its own port in the site file"
                    )
                simulator = _modbus_simulator(device, self._plan.seed)
                if simulator is None:
                    log.warning("no simulator for Modbus model %s: %s is not served", device.model, device.id)
                    continue
                try:
                    simulator.start()
                except SimulatorError as exc:
                    raise ScenarioError(
                        f"cannot serve {device.id} ({device.model}) on {address[0]}:{address[1]}:"
                        f" {exc.__cause__ or exc} (the site file's host must be an address of this machine, the port"
                        " free)"
                    ) from exc
                served[address] = device.id
                self.modbus[device.id] = simulator

    def stop(self) -> None:
        for simulator in self.modbus.values():
            simulator.stop()
        for device_id, driver in self.drivers.items():
            if isinstance(driver, ClosableDriver):
                try:
                    driver.close()
                except Exception:
                    log.exception("closing the driver of %s failed", device_id)

    def apply(self, action: DeviceAction) -> bool:
        """Play one device action; False when no simulator or driver plays that device (counted in ``skipped``)."""
        simulator = self.modbus.get(action.device) if isinstance(action, Cross | Badge) else None
        driver = self.drivers.get(action.device) if isinstance(action, Press | Key) else None
        if isinstance(action, Cross) and isinstance(simulator, PeopleCounterSimulator):
            simulator.cross(action.counter, action.times)
        elif isinstance(action, Badge) and isinstance(simulator, DoorControllerSimulator):
            simulator.badge(action.card)
        elif isinstance(action, Press) and isinstance(driver, TicketDispenserDriver):
            driver.press(action.service)
        elif isinstance(action, Key) and isinstance(driver, WindowTerminalDriver):
            driver.key(action.action, ticket=action.ticket, to_window=action.to_window)
        else:
            self.skipped[action.device] += 1
            return False
        return True

    def begin_fault(self, fault: FaultSpec) -> None:
        if fault.kind == "sensor-dropout" and fault.device is not None:
            self.silent.add(fault.device)
        elif fault.kind == "dead-modbus" and fault.device in self.modbus:
            self.modbus[fault.device].device.set_fault(Fault.OFFLINE)

    def end_fault(self, fault: FaultSpec) -> None:
        if fault.kind == "sensor-dropout" and fault.device is not None:
            self.silent.discard(fault.device)
        elif fault.kind == "dead-modbus" and fault.device in self.modbus:
            self.modbus[fault.device].device.clear_fault()

    def sensor_reports(self, simulated_now: datetime, wall_now: datetime) -> list[VendorReport]:
        """Reports due from every sensor that is not silent, counting the people there just before ``simulated_now``."""
        reports: list[VendorReport] = []
        for feed, sensor in self.sensors:
            if feed.device.id in self.silent:
                continue
            true_people = people_at(feed.changes, simulated_now - _JUST_BEFORE)
            reports += sensor.step(simulated_now, wall_now, true_people=true_people)
        return reports
