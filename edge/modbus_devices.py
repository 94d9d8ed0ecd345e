"""Every Modbus device of a site, ready for the agent: connections, pollers and one adapter per device model.

    modbus = ModbusDevices(site, tz=belt.tz, sink=outbox, health=health)
    router = CommandRouter(site, {**modbus.handlers, **mqtt_handlers}, outbox, clock)
    modbus.start()          # polls every device on its own loop thread
    ...
    modbus.stop()           # releases held door strikes, stops polling, closes connections

One :class:`edge.modbus_reader.PymodbusReader` per device, shared by its poller and its commands (one lock, one
timeout, one backoff: the device sees one master). Each device is polled every ``report_interval_s`` by its own
task (a dead device only delays itself). Every snapshot goes first to :class:`edge.device_health.DeviceHealth`, then
to the device's adapter: :class:`edge.modbus_counter.PeopleCounterAdapter` (occupancy),
:class:`edge.modbus_door.DoorControllerAdapter` (access and door events, ``unlock``),
:class:`edge.modbus_board.LedBoardAdapter` (``display``). The adapters run on the Modbus loop; command handlers
are called by the command router on its worker threads and hand their writes to that loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import tzinfo
from types import MappingProxyType
from typing import Protocol

from devices.catalogue import DOOR_CONTROLLER_MODEL, LED_BOARD_MODEL, PEOPLE_COUNTER_MODEL
from devices.registers import RegisterMap
from devices.site import Device, Site
from devices.timestamps import utc_now
from edge.command_handler import CommandHandler
from edge.device_health import DeviceHealth
from edge.modbus_board import LedBoardAdapter
from edge.modbus_counter import PeopleCounterAdapter
from edge.modbus_door import CardCounterStore, DoorControllerAdapter
from edge.modbus_poller import Clock, DevicePoller, PointSnapshot, PollScheduler
from edge.modbus_reader import DEFAULT_TIMEOUT_S, PymodbusReader, RegisterClient
from edge.modbus_runtime import ModbusRuntime
from edge.sink import EnvelopeSink

log = logging.getLogger(__name__)


class ModbusAdapter(Protocol):
    """What the assembly needs of a device adapter."""

    @property
    def device_id(self) -> str: ...

    @property
    def register_map(self) -> RegisterMap: ...

    @property
    def must_change(self) -> tuple[str, ...]: ...

    def on_snapshot(self, snapshot: PointSnapshot) -> None: ...


def pymodbus_client(device: Device, timeout_s: float = DEFAULT_TIMEOUT_S) -> RegisterClient:
    """The Modbus TCP connection to a device of the site file."""
    if device.host is None or device.port is None:
        raise ValueError(f"{device.id}: a Modbus device needs host and port")
    return PymodbusReader(device.host, device.port, timeout_s=timeout_s)


class ModbusDevices:
    """The Modbus devices of ``site`` (the others are left alone); see the module doc.

    ``tz`` is the belt's time zone (a counter resets at its space's closing time in it); ``card_counters`` keeps
    door badge counters across restarts (edge.modbus_door.CardCounterFile in the agent's state directory);
    ``client_factory`` makes each device's connection (default: Modbus TCP at the device's host and port).
    """

    def __init__(
        self,
        site: Site,
        *,
        tz: tzinfo,
        sink: EnvelopeSink,
        health: DeviceHealth,
        clock: Clock = utc_now,
        card_counters: CardCounterStore | None = None,
        client_factory: Callable[[Device], RegisterClient] = pymodbus_client,
    ) -> None:
        self.runtime = ModbusRuntime(f"modbus-{site.id}")
        self._health = health
        adapters: dict[str, ModbusAdapter] = {}
        handlers: dict[str, CommandHandler] = {}
        doors: list[DoorControllerAdapter] = []
        pollers: list[DevicePoller] = []
        for device in site.devices:
            if device.transport != "modbus":
                continue
            client = client_factory(device)
            adapter: ModbusAdapter
            if device.model == PEOPLE_COUNTER_MODEL:
                hours = site.space(device.space).hours
                adapter = PeopleCounterAdapter(device, hours=hours, tz=tz, sink=sink, health=health)
            elif device.model == DOOR_CONTROLLER_MODEL:
                door = DoorControllerAdapter(
                    device, client=client, runtime=self.runtime, sink=sink, card_counters=card_counters
                )
                adapter = handlers[device.id] = door
                doors.append(door)
            elif device.model == LED_BOARD_MODEL:
                adapter = handlers[device.id] = LedBoardAdapter(device, client=client, runtime=self.runtime)
            else:
                raise ValueError(f"{device.id}: no adapter for Modbus model {device.model!r}")
            adapters[device.id] = adapter
            pollers.append(
                DevicePoller(
                    device.id,
                    adapter.register_map,
                    client,
                    unit=1 if device.unit is None else device.unit,
                    interval_s=device.report_interval_s,
                    must_change=adapter.must_change,
                    clock=clock,
                )
            )
        self.adapters: Mapping[str, ModbusAdapter] = MappingProxyType(adapters)
        self.handlers: Mapping[str, CommandHandler] = MappingProxyType(handlers)
        self._doors = tuple(doors)
        self.scheduler = PollScheduler(pollers, self._on_snapshot)

    def _on_snapshot(self, snapshot: PointSnapshot) -> None:
        # Health first: an adapter that fails (logged and counted by the poller) must not hide the device's state.
        self._health.polled(snapshot)
        self.adapters[snapshot.device_id].on_snapshot(snapshot)

    def start(self) -> None:
        self.runtime.start()
        self.runtime.spawn(self.scheduler.run(), name="modbus-polls")
        log.info("polling %d Modbus devices", len(self.adapters))

    def stop(self) -> None:
        self.runtime.stop(before_stop=self._release_strikes())

    async def _release_strikes(self) -> None:
        for door in self._doors:
            await door.shutdown()
