"""A site's Modbus devices end to end: ModbusDevices polling simulators on its own loop, commands through the
CommandRouter as the agent's MQTT callback would hand them over, outputs into a list standing in for the outbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devices.commands import encode_command, new_command
from devices.registers import WordOrder
from devices.site import Site, parse_belt
from devices.timestamps import utc_now
from devices.topics import Channel, device_topic
from edge.commands import CommandRouter
from edge.device_health import DeviceHealth
from edge.modbus_devices import ModbusDevices
from edge.sink import DeviceStatus, Outgoing
from simulators.modbus_device import Fault
from simulators.modbus_models import DoorControllerSimulator, LedBoardSimulator, PeopleCounterSimulator
from tests.waiting import wait_until

ROOT = "test/sc"


class ListSink:
    def __init__(self) -> None:
        self.items: list[Outgoing] = []
        self._lock = threading.Lock()

    def submit(self, item: Outgoing) -> int:
        with self._lock:
            self.items.append(item)
            return len(self.items)

    def of(self, device_id: str, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i.data) for i in self.items if i.device_id == device_id and i.name == name]


class Statuses:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latest: dict[str, DeviceStatus] = {}

    def publish_status(self, status: DeviceStatus) -> None:
        with self._lock:
            self.latest[status.device_id] = status

    def state(self, device_id: str) -> str | None:
        with self._lock:
            status = self.latest.get(device_id)
        return None if status is None else status.state


def site_with(counter: int, door: int, board: int) -> Site:
    belt = f"""\
schema: smartcomplex.site/v1
name: Test belt
timezone: Asia/Shanghai
sites:
  - id: hub
    name: Hub
    address: No. 1 Test Road
    floors: [{{id: 1f, name: Ground floor, level: 1}}]
    spaces:
      - {{id: hall, name: Hall, floor: 1f, kind: service-hall, capacity: 50, bookable: false,
         hours: {{mon-sun: "00:00-24:00"}}}}
    devices:
      - {{id: counter, model: modbus-people-counter, space: hall, transport: modbus, host: 127.0.0.1,
         port: {counter}, unit: 1, report_interval_s: 1, word_order: little}}
      - {{id: door, model: modbus-door-controller, space: hall, transport: modbus, host: 127.0.0.1,
         port: {door}, unit: 1, report_interval_s: 1}}
      - {{id: led, model: ditel-led-board, space: hall, transport: modbus, host: 127.0.0.1, port: {board},
         unit: 1, report_interval_s: 1}}
      - {{id: sensor, model: milesight-vs121, space: hall, transport: mqtt, serial: S1,
         vendor_topic: vendor/s1, report_interval_s: 60}}
"""
    return parse_belt(belt, source="test").site("hub")


@dataclass
class Agent:
    counter: PeopleCounterSimulator
    door: DoorControllerSimulator
    board: LedBoardSimulator
    modbus: ModbusDevices
    router: CommandRouter
    sink: ListSink
    statuses: Statuses


@pytest.fixture
def agent() -> Iterator[Agent]:
    with (
        PeopleCounterSimulator(seed=1, word_order=WordOrder.LITTLE) as counter,
        DoorControllerSimulator() as door,
        LedBoardSimulator() as board,
    ):
        site = site_with(counter.port, door.port, board.port)
        sink, statuses = ListSink(), Statuses()
        health = DeviceHealth(site.devices, statuses, clock=utc_now)
        modbus = ModbusDevices(site, tz=ZoneInfo("Asia/Shanghai"), sink=sink, health=health)
        router = CommandRouter(site, modbus.handlers, sink, utc_now, root=ROOT)
        running = threading.Event()
        running.set()
        # A live counter module's uptime advances every second; the simulator's only moves with seeded crossings.
        clock_thread = threading.Thread(target=advance_uptime, args=(counter, running), daemon=True)
        clock_thread.start()
        modbus.start()
        try:
            yield Agent(counter, door, board, modbus, router, sink, statuses)
        finally:
            router.close()
            modbus.stop()
            running.clear()
            clock_thread.join(5)


def advance_uptime(counter: PeopleCounterSimulator, running: threading.Event) -> None:
    uptime = 0
    while running.is_set():
        uptime += 1
        counter.device.set_value("uptime", uptime)
        time.sleep(0.2)


def send(agent: Agent, device_id: str, action: str, command_id: str, **args: Any) -> None:
    payload = encode_command(new_command(command_id, action, args, now=datetime.now(UTC)))
    agent.router.handle(device_topic("hub", device_id, Channel.CMD, action, root=ROOT), payload)


def result(agent: Agent, device_id: str, action: str, command_id: str) -> dict[str, Any]:
    def answered() -> list[dict[str, Any]]:
        return [r for r in agent.sink.of(device_id, f"{action}/result") if r["command_id"] == command_id]

    wait_until(lambda: bool(answered()), timeout=10, what=f"the result of {command_id}")
    [answer] = answered()
    return answer


def test_the_site_polls_its_modbus_devices_and_reports_their_health(agent: Agent) -> None:
    assert sorted(agent.modbus.adapters) == ["counter", "door", "led"]
    assert sorted(agent.modbus.handlers) == ["door", "led"]
    devices = ("counter", "door", "led")
    wait_until(lambda: all(agent.statuses.state(d) == "online" for d in devices), timeout=10, what="all online")
    agent.counter.cross("channel_1_in", 2)
    wait_until(
        lambda: any(r["people"] == 2 for r in agent.sink.of("counter", "occupancy")), timeout=10, what="2 people"
    )
    assert agent.statuses.state("counter") == "online"


def test_a_badge_read_and_an_unlock_go_through_while_the_led_board_is_dead(agent: Agent) -> None:
    # Connected first: a pymodbus server shut down while it accepts a connection leaks that socket.
    wait_until(lambda: agent.statuses.state("led") == "online", timeout=10, what="the board online")
    agent.board.device.set_fault(Fault.OFFLINE)
    wait_until(lambda: agent.statuses.state("led") == "offline", timeout=10, what="the board offline")
    wait_until(lambda: bool(agent.sink.of("door", "door")), timeout=10, what="the door's first state")
    agent.door.badge(4242)
    wait_until(lambda: bool(agent.sink.of("door", "access")), timeout=10, what="the badge read")
    assert agent.sink.of("door", "access") == [{"card": "4242", "reads": 1, "missed": 0}]
    # Held for 3 polls: a strike pulse shorter than the 1 s poll interval may fall between two polls.
    send(agent, "door", "unlock", "open-1", seconds=3)
    assert result(agent, "door", "unlock", "open-1")["status"] == "done"
    wait_until(
        lambda: any(d["strike_released"] for d in agent.sink.of("door", "door")), timeout=10, what="strike event"
    )
    wait_until(lambda: not agent.door.strike_released, timeout=10, what="the strike released again")
    send(agent, "led", "display", "show-1", text="A001 -> 1")
    answer = result(agent, "led", "display", "show-1")
    assert answer["status"] == "failed"
    assert answer["detail"].startswith("text not shown on board led: 127.0.0.1:")


def test_display_through_the_router_shows_on_the_board(agent: Agent) -> None:
    send(agent, "led", "display", "show-1", text="A017 -> 3")
    assert result(agent, "led", "display", "show-1")["status"] == "done"
    assert agent.board.text == "A017 -> 3"


def test_stopping_the_agent_releases_a_held_strike(agent: Agent) -> None:
    send(agent, "door", "unlock", "long-1", seconds=60)
    assert result(agent, "door", "unlock", "long-1")["status"] == "done"
    assert agent.door.strike_released is True
    agent.modbus.stop()
    assert agent.door.strike_released is False
