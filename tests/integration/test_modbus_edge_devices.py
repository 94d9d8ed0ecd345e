"""The Modbus device adapters against simulated devices over real loopback Modbus TCP.

Each test polls by hand (one poll per step, on the agent's Modbus loop, with an injected clock) so that what the
simulator did between two polls is exact; commands go through the adapters' ``execute`` from the test thread, as
the command router's workers call them. Outputs land in a list standing in for the outbox.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devices.commands import Command, new_command
from devices.readings import OCCUPANCY_SCHEMA
from devices.registers import Table, WordOrder
from devices.site import Device, OpeningHours
from edge.device_health import DeviceHealth
from edge.modbus_board import LedBoardAdapter
from edge.modbus_counter import PeopleCounterAdapter
from edge.modbus_devices import ModbusAdapter
from edge.modbus_door import CardCounterFile, DoorControllerAdapter
from edge.modbus_poller import DevicePoller, PointSnapshot
from edge.modbus_reader import DeviceFault, PymodbusReader
from edge.modbus_runtime import ModbusRuntime
from edge.sink import DeviceStatus, Outgoing
from simulators.modbus_device import Fault
from simulators.modbus_models import DoorControllerSimulator, LedBoardSimulator, PeopleCounterSimulator
from tests.waiting import wait_until

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # Monday 09:30 in Shanghai
HOURS = OpeningHours.from_notation({"mon-sun": "08:00-21:00"})
CLOSING = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai
TIMEOUT_S = 0.5


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ListSink:
    def __init__(self) -> None:
        self.items: list[Outgoing] = []
        self._lock = threading.Lock()

    def submit(self, item: Outgoing) -> int:
        with self._lock:
            self.items.append(item)
            return len(self.items)

    def of(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item.data) for item in self.items if item.name == name]


class Statuses:
    def __init__(self) -> None:
        self.published: list[DeviceStatus] = []

    def publish_status(self, status: DeviceStatus) -> None:
        self.published.append(status)


def modbus_device(device_id: str, model: str, port: int, interval_s: int = 10, **fields: Any) -> Device:
    return Device(
        id=device_id,
        model=model,
        space="hall",
        transport="modbus",
        report_interval_s=interval_s,
        host="127.0.0.1",
        port=port,
        unit=1,
        **fields,
    )


class Rig:
    """One device adapter with its poller, connection, health and outbox list, on a running Modbus loop."""

    def __init__(self, runtime: ModbusRuntime, device: Device, build: Any, **poller_options: Any) -> None:
        self.runtime = runtime
        self.clock = Clock()
        self.sink = ListSink()
        self.statuses = Statuses()
        self.health = DeviceHealth([device], self.statuses, clock=self.clock)
        assert device.port is not None
        self.client = reader(device.port)
        self.adapter: ModbusAdapter = build(self)
        self.poller = DevicePoller(
            device.id,
            self.adapter.register_map,
            self.client,
            must_change=self.adapter.must_change,
            clock=self.clock,
            **poller_options,
        )

    def poll(self, after_s: float = 10) -> PointSnapshot:
        """Advance the clock and poll once, feeding health and the adapter as edge.modbus_devices does."""
        self.clock.advance(after_s)

        async def poll_and_feed() -> PointSnapshot:
            snapshot = await self.poller.poll_once()
            self.health.polled(snapshot)
            self.adapter.on_snapshot(snapshot)
            return snapshot

        return self.runtime.run(poll_and_feed(), 5)

    def state(self) -> tuple[str, str] | None:
        status = self.health.status_of(self.poller.device_id)
        return None if status is None else (status.state, status.detail)


OPEN_READERS: list[PymodbusReader] = []


def reader(port: int) -> PymodbusReader:
    """A connection the ``runtime`` fixture closes on its loop (the client belongs to it) after the test."""
    opened = PymodbusReader("127.0.0.1", port, timeout_s=TIMEOUT_S, backoff_initial_s=0.05)
    OPEN_READERS.append(opened)
    return opened


async def close_all_readers() -> None:
    while OPEN_READERS:
        OPEN_READERS.pop().close()


@pytest.fixture
def runtime() -> Iterator[ModbusRuntime]:
    runtime = ModbusRuntime("test-modbus")
    runtime.start()
    yield runtime
    runtime.stop(before_stop=close_all_readers())


def command(action: str, command_id: str = "cmd-1", **args: Any) -> Command:
    return new_command(command_id, action, args, now=datetime.now(UTC))


# --- people counter ------------------------------------------------------------------------------------------


def counter_rig(runtime: ModbusRuntime, simulator: PeopleCounterSimulator, **fields: Any) -> Rig:
    device = modbus_device("counter", "modbus-people-counter", simulator.port, **fields)
    return Rig(
        runtime,
        device,
        lambda rig: PeopleCounterAdapter(device, hours=HOURS, tz=SHANGHAI, sink=rig.sink, health=rig.health),
    )


def tick_uptime(simulator: PeopleCounterSimulator) -> None:
    """A live module's uptime advances between polls (the simulator's only moves with seeded crossings)."""
    uptime = int(simulator.device.value("uptime"))
    simulator.device.set_value("uptime", uptime + 10)


@pytest.mark.parametrize("word_order", [WordOrder.BIG, WordOrder.LITTLE])
def test_counter_occupancy_follows_crossings_across_the_wrap_in_either_word_order(
    runtime: ModbusRuntime, word_order: WordOrder
) -> None:
    with PeopleCounterSimulator(seed=1, word_order=word_order, start_count=2**32 - 2) as simulator:
        rig = counter_rig(runtime, simulator, word_order=word_order.value)
        rig.poll()
        simulator.cross("channel_1_in", 5)  # 2**32 - 2 -> 3: wrapped
        simulator.cross("channel_2_in", 2)
        simulator.cross("channel_1_out", 1)
        tick_uptime(simulator)
        rig.poll()
        simulator.cross("channel_2_out", 4)
        tick_uptime(simulator)
        rig.poll()
        readings = rig.sink.of("occupancy")
        assert [(r["people"], r["occupied"], r["trigger"]) for r in readings] == [
            (0, False, "change"),
            (6, True, "change"),
            (2, True, "change"),
        ]
        assert all(r["regions"] == [] for r in readings)
        assert {item.schema for item in rig.sink.items} == {OCCUPANCY_SCHEMA}
        assert rig.state() == ("online", "")


def test_an_unchanged_count_is_sent_once_per_report_interval(runtime: ModbusRuntime) -> None:
    with PeopleCounterSimulator(seed=2) as simulator:
        rig = counter_rig(runtime, simulator)
        rig.poll()
        for after_s in (4, 4, 4):  # polled more often than it reports: one interval reading in 12 s
            tick_uptime(simulator)
            rig.poll(after_s)
        assert [r["trigger"] for r in rig.sink.of("occupancy")] == ["change", "interval"]


def test_more_people_out_than_in_never_makes_the_occupancy_negative(runtime: ModbusRuntime) -> None:
    with PeopleCounterSimulator(seed=3) as simulator:
        rig = counter_rig(runtime, simulator)
        rig.poll()
        simulator.cross("channel_1_in", 1)
        simulator.cross("channel_1_out", 3)
        tick_uptime(simulator)
        rig.poll()
        simulator.cross("channel_2_in", 2)
        tick_uptime(simulator)
        rig.poll()
        assert [r["people"] for r in rig.sink.of("occupancy")] == [0, 0, 2]


def test_frozen_counter_registers_make_the_device_stale_and_send_no_count(runtime: ModbusRuntime) -> None:
    with PeopleCounterSimulator(seed=4) as simulator:
        rig = counter_rig(runtime, simulator)
        rig.poll()
        simulator.device.set_fault(Fault.FROZEN)
        simulator.cross("channel_1_in", 3)
        for _ in range(3):
            tick_uptime(simulator)  # the frozen device keeps serving the old uptime
            rig.poll()
        state = rig.state()
        assert state is not None
        assert state[0] == "stale"
        assert "uptime unchanged" in state[1]
        sent = len(rig.sink.of("occupancy"))
        tick_uptime(simulator)
        rig.poll()
        assert len(rig.sink.of("occupancy")) == sent  # nothing while stale
        assert rig.adapter.occupancy is None  # type: ignore[attr-defined]
        simulator.device.clear_fault()
        tick_uptime(simulator)
        rig.poll()
        assert rig.sink.of("occupancy")[-1]["people"] == 3  # crossings made while frozen still count
        assert rig.state() == ("online", "")


def test_an_unreachable_counter_is_offline_and_sends_no_count(runtime: ModbusRuntime) -> None:
    with PeopleCounterSimulator(seed=5) as simulator:
        rig = counter_rig(runtime, simulator)
        rig.poll()
        simulator.device.set_fault(Fault.OFFLINE)
        rig.poll()
        rig.poll()
        state = rig.state()
        assert state is not None
        assert state[0] == "offline"
        assert "unreachable" in state[1]
        assert len(rig.sink.of("occupancy")) == 1
        status = rig.health.status_of("counter")
        assert status is not None
        assert status.last_seen == NOW + timedelta(seconds=10)


def test_the_count_resets_at_closing_time_and_the_drift_is_reported(runtime: ModbusRuntime) -> None:
    with PeopleCounterSimulator(seed=6) as simulator:
        rig = counter_rig(runtime, simulator)
        rig.clock.now = CLOSING - timedelta(minutes=1)
        rig.poll(0)
        simulator.cross("channel_1_in", 5)
        simulator.cross("channel_1_out", 2)
        tick_uptime(simulator)
        rig.poll(30)  # 20:59:30: three people still counted inside
        tick_uptime(simulator)
        rig.poll(40)  # 21:00:10: past closing
        assert [r["people"] for r in rig.sink.of("occupancy")] == [0, 3, 0]
        adapter = rig.adapter
        assert isinstance(adapter, PeopleCounterAdapter)
        report = adapter.last_closing
        assert report is not None
        assert (report.at, report.left_over) == (CLOSING, 3)
        state = rig.state()
        assert state is not None
        assert state[0] == "online"
        assert state[1].startswith("closing reset at 2026-03-02 21:00: 3 still counted inside")
        simulator.cross("channel_1_out", 3)  # the three leave after closing: clamped, not negative
        tick_uptime(simulator)
        rig.poll()
        assert rig.sink.of("occupancy")[-1]["people"] == 0


# --- door controller -----------------------------------------------------------------------------------------


def door_rig(runtime: ModbusRuntime, simulator: DoorControllerSimulator, store: CardCounterFile | None = None) -> Rig:
    device = modbus_device("door", "modbus-door-controller", simulator.port, interval_s=1)
    return Rig(
        runtime,
        device,
        lambda rig: DoorControllerAdapter(
            device, client=rig.client, runtime=runtime, sink=rig.sink, card_counters=store
        ),
    )


def test_badge_reads_become_access_events_and_a_counter_jump_counts_the_missed_reads(
    runtime: ModbusRuntime,
) -> None:
    with DoorControllerSimulator() as simulator:
        simulator.badge(11111)  # before the edge started: the baseline, not an event
        rig = door_rig(runtime, simulator)
        rig.poll(1)
        assert rig.sink.of("access") == []
        simulator.badge(12345678)
        rig.poll(1)
        rig.poll(1)  # nothing new
        simulator.badge(222)
        simulator.badge(333)
        simulator.badge(4294967295)
        rig.poll(1)
        assert rig.sink.of("access") == [
            {"card": "12345678", "reads": 2, "missed": 0},
            {"card": "4294967295", "reads": 5, "missed": 2},
        ]
        assert all(item.critical for item in rig.sink.items)


def test_the_badge_counter_wraps_at_two_to_the_16(runtime: ModbusRuntime) -> None:
    with DoorControllerSimulator() as simulator:
        simulator.device.set_value("card_events", 65535)
        rig = door_rig(runtime, simulator)
        rig.poll(1)
        simulator.device.set_values({"card_events": 1, "last_card": 77})  # two reads: 65535 -> 0 -> 1
        rig.poll(1)
        assert rig.sink.of("access") == [{"card": "77", "reads": 1, "missed": 1}]


def test_reads_made_while_the_agent_was_down_are_reported_as_missed_from_the_stored_counter(
    runtime: ModbusRuntime, tmp_path: Path
) -> None:
    store_path = tmp_path / "door-counters.json"
    with DoorControllerSimulator() as simulator:
        first_run = door_rig(runtime, simulator, CardCounterFile(store_path))
        simulator.badge(1)
        first_run.poll(1)
        simulator.badge(2)
        first_run.poll(1)
        assert first_run.sink.of("access") == [{"card": "2", "reads": 2, "missed": 0}]
        runtime.run(close_all_readers(), 5)
        # The agent is down; three more reads; a new agent starts with the same state directory.
        for card in (3, 4, 5):
            simulator.badge(card)
        second_run = door_rig(runtime, simulator, CardCounterFile(store_path))
        second_run.poll(1)
        assert second_run.sink.of("access") == [{"card": "5", "reads": 5, "missed": 2}]


def test_door_contact_exit_button_and_strike_changes_become_door_events(runtime: ModbusRuntime) -> None:
    with DoorControllerSimulator() as simulator:
        rig = door_rig(runtime, simulator)
        rig.poll(1)  # the state as found at start
        rig.poll(1)
        simulator.set_door_closed(False)
        rig.poll(1)
        simulator.set_exit_requested(True)
        rig.poll(1)
        simulator.set_exit_requested(False)
        simulator.set_door_closed(True)
        rig.poll(1)
        assert [(d["closed"], d["exit_requested"], d["strike_released"]) for d in rig.sink.of("door")] == [
            (True, False, False),
            (False, False, False),
            (False, True, False),
            (True, False, False),
        ]
        assert all(item.critical for item in rig.sink.items)


def test_unlock_energises_the_strike_answers_done_and_releases_it_after_the_time(runtime: ModbusRuntime) -> None:
    with DoorControllerSimulator() as simulator:
        rig = door_rig(runtime, simulator)
        adapter = rig.adapter
        assert isinstance(adapter, DoorControllerAdapter)
        started = time.monotonic()
        outcome = adapter.execute(command("unlock", seconds=1))
        assert (outcome.status, dict(outcome.data)) == ("done", {"seconds": 1})
        assert simulator.strike_released is True
        wait_until(lambda: simulator.strike_released is False, timeout=5, what="the strike to be released")
        held_s = time.monotonic() - started
        assert 0.9 <= held_s <= 2.0, held_s
        coil_writes = [(w.function_code, w.values) for w in simulator.device.writes() if w.table is Table.COIL]
        assert coil_writes == [(5, (1,)), (5, (0,))]


def test_a_second_unlock_extends_the_release(runtime: ModbusRuntime) -> None:
    with DoorControllerSimulator() as simulator:
        rig = door_rig(runtime, simulator)
        adapter = rig.adapter
        assert isinstance(adapter, DoorControllerAdapter)
        started = time.monotonic()
        assert adapter.execute(command("unlock", "first", seconds=1)).status == "done"
        assert adapter.execute(command("unlock", "second", seconds=2)).status == "done"
        wait_until(lambda: simulator.strike_released is False, timeout=5, what="the strike to be released")
        assert time.monotonic() - started >= 1.9


def test_a_strike_left_energised_by_an_earlier_run_is_released(runtime: ModbusRuntime) -> None:
    with DoorControllerSimulator() as simulator:
        simulator.device.set_value("strike_released", True)
        rig = door_rig(runtime, simulator)
        rig.poll(1)
        rig.poll(1)
        wait_until(lambda: simulator.strike_released is False, timeout=5, what="the orphaned strike to be released")


def test_unlock_of_an_unreachable_door_fails_with_a_clear_detail(runtime: ModbusRuntime) -> None:
    with DoorControllerSimulator() as simulator:
        rig = door_rig(runtime, simulator)
        simulator.device.set_fault(Fault.OFFLINE)
        adapter = rig.adapter
        assert isinstance(adapter, DoorControllerAdapter)
        outcome = adapter.execute(command("unlock", seconds=1))
        assert outcome.status == "failed"
        assert outcome.detail.startswith(f"door not unlocked: 127.0.0.1:{simulator.port}: ")


# --- LED board -----------------------------------------------------------------------------------------------


def board_rig(runtime: ModbusRuntime, simulator: LedBoardSimulator) -> Rig:
    device = modbus_device("led", "ditel-led-board", simulator.port)
    return Rig(runtime, device, lambda rig: LedBoardAdapter(device, client=rig.client, runtime=runtime))


def test_display_writes_the_padded_text_with_fc16_and_answers_done(runtime: ModbusRuntime) -> None:
    with LedBoardSimulator() as simulator:
        rig = board_rig(runtime, simulator)
        adapter = rig.adapter
        assert isinstance(adapter, LedBoardAdapter)
        outcome = adapter.execute(command("display", text="A017 -> 3"))
        assert outcome.status == "done"
        assert simulator.text == "A017 -> 3"
        [write] = simulator.writes()
        assert (write.function_code, write.address, len(write.values)) == (16, 0, 10)
        assert bytes(b for word in write.values for b in word.to_bytes(2, "big")) == b"A017 -> 3".ljust(20)
        rig.poll()
        assert rig.state() == ("online", "")


def test_display_to_an_offline_board_fails_with_a_clear_detail(runtime: ModbusRuntime) -> None:
    with LedBoardSimulator() as simulator:
        rig = board_rig(runtime, simulator)
        simulator.device.set_fault(Fault.OFFLINE)
        adapter = rig.adapter
        assert isinstance(adapter, LedBoardAdapter)
        outcome = adapter.execute(command("display", text="A018 -> 1"))
        assert outcome.status == "failed"
        assert outcome.detail == f"text not shown on board led: 127.0.0.1:{simulator.port}: cannot connect"
        rig.poll()
        state = rig.state()
        assert state is not None
        assert state[0] == "offline"


def test_a_board_that_comes_back_blank_gets_its_text_again(runtime: ModbusRuntime) -> None:
    with LedBoardSimulator() as simulator:
        rig = board_rig(runtime, simulator)
        adapter = rig.adapter
        assert isinstance(adapter, LedBoardAdapter)
        assert adapter.execute(command("display", text="B002 -> 4")).status == "done"
        simulator.device.set_value("text", "")  # power cycled
        rig.poll()
        wait_until(lambda: simulator.text == "B002 -> 4", timeout=5, what="the text to be written again")


# --- the reader's write side ---------------------------------------------------------------------------------


def test_a_single_coil_goes_with_fc15_when_the_device_takes_only_multiple_writes(runtime: ModbusRuntime) -> None:
    with DoorControllerSimulator() as simulator:
        runtime.run(reader(simulator.port).write(Table.COIL, 0, [1], 1, multiple=True), 5)
        assert simulator.strike_released is True
        assert [(w.function_code, w.values) for w in simulator.device.writes()] == [(15, (1,))]


def test_a_write_the_device_refuses_is_a_fault_with_its_exception_code(runtime: ModbusRuntime) -> None:
    with PeopleCounterSimulator(seed=7) as simulator:
        with pytest.raises(DeviceFault) as refused:
            runtime.run(reader(simulator.port).write(Table.HOLDING_REGISTER, 0, [0, 0], 1, multiple=True), 5)
        assert refused.value.code == 0x02
