"""The Modbus poller against simulated people counters over real loopback Modbus TCP.

Each test drives its own event loop with asyncio.run (no pytest-asyncio); the simulators serve from their own
threads and loops, so faults set here reach the poller exactly as a misbehaving device would.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from devices.catalogue import people_counter_map
from devices.registers import WordOrder
from edge.counter_occupancy import CounterOccupancy
from edge.modbus_poller import DevicePoller, PointSnapshot, PollScheduler
from edge.modbus_reader import PymodbusReader
from simulators.modbus_device import Fault
from simulators.modbus_models import COUNTER_NAMES, PeopleCounterSimulator

TIMEOUT_S = 0.5
INTERVAL_S = 0.2
NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai


def counter_poller(
    simulator: PeopleCounterSimulator, device_id: str = "counter-1", *, seed: int = 0, **options: Any
) -> DevicePoller:
    reader = PymodbusReader("127.0.0.1", simulator.port, timeout_s=TIMEOUT_S, backoff_initial_s=0.05, backoff_max_s=0.4)
    word_order = simulator.device.register_map.word_order
    return DevicePoller(
        device_id, people_counter_map(word_order), reader, rng=random.Random(seed), clock=lambda: NOW, **options
    )


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


@pytest.mark.parametrize("word_order", [WordOrder.BIG, WordOrder.LITTLE])
def test_counter_values_and_occupancy_follow_crossings_in_either_word_order(word_order: WordOrder) -> None:
    with PeopleCounterSimulator(seed=1, word_order=word_order, start_count=0x1234_5678) as simulator:
        poller = counter_poller(simulator)
        occupancy = CounterOccupancy()

        async def scenario() -> None:
            first = await poller.poll_once()
            assert (first.quality, first.device_id, first.taken_at) == ("good", "counter-1", NOW)
            assert dict(first.values) == {**dict.fromkeys(COUNTER_NAMES, 0x1234_5678), "status": 0, "uptime": 0}
            assert occupancy.feed(first).occupancy == 0
            simulator.cross("channel_1_in", 3)
            simulator.cross("channel_2_in", 2)
            simulator.cross("channel_1_out", 1)
            second = await poller.poll_once()
            assert {name: second.values[name] for name in COUNTER_NAMES} == simulator.counts
            assert occupancy.feed(second).occupancy == 4
            simulator.cross("channel_2_out", 4)
            assert occupancy.feed(await poller.poll_once()).occupancy == 0
            poller.reader.close()

        run(scenario)


def test_occupancy_stays_right_across_the_counter_wrap() -> None:
    with PeopleCounterSimulator(seed=2, start_count=2**32 - 2) as simulator:
        poller = counter_poller(simulator)
        occupancy = CounterOccupancy()

        async def scenario() -> None:
            occupancy.feed(await poller.poll_once())
            simulator.cross("channel_1_in", 5)
            simulator.cross("channel_2_out", 1)
            snapshot = await poller.poll_once()
            assert snapshot.values["channel_1_in"] == 3  # wrapped past 2**32 - 1
            assert occupancy.feed(snapshot).occupancy == 4
            poller.reader.close()

        run(scenario)


def test_frozen_registers_make_the_snapshot_stale_within_n_polls_and_the_occupancy_unknown() -> None:
    stale_after = 3
    with PeopleCounterSimulator(seed=3) as simulator:
        poller = counter_poller(simulator, must_change=("uptime",), stale_after=stale_after)
        occupancy = CounterOccupancy()
        uptime = 0

        async def poll_with_the_device_clock_ticking() -> PointSnapshot:
            nonlocal uptime
            uptime += 1  # a live counter's uptime (seconds) advances between polls
            simulator.device.set_value("uptime", uptime)
            return await poller.poll_once()

        async def scenario() -> None:
            for _ in range(stale_after + 1):
                assert occupancy.feed(await poll_with_the_device_clock_ticking()).occupancy == 0
            simulator.device.set_fault(Fault.FROZEN)
            simulator.cross("channel_1_in", 2)
            qualities = [(await poll_with_the_device_clock_ticking()).quality for _ in range(stale_after)]
            assert qualities == ["good"] * (stale_after - 1) + ["stale"]
            stale = await poll_with_the_device_clock_ticking()
            assert stale.quality == "stale"
            assert "uptime unchanged" in stale.detail
            assert occupancy.feed(stale).occupancy is None
            simulator.device.clear_fault()
            recovered = await poll_with_the_device_clock_ticking()
            assert recovered.quality == "good"
            assert occupancy.feed(recovered).occupancy == 2  # the crossings made while frozen still count
            assert poller.failed_polls == 2
            poller.reader.close()

        run(scenario)


def test_a_modbus_exception_response_is_a_fault_with_its_code() -> None:
    with PeopleCounterSimulator(seed=4) as simulator:
        poller = counter_poller(simulator)

        async def scenario() -> None:
            simulator.device.set_fault(Fault.EXCEPTION, exception_code=0x0B)
            faulty = await poller.poll_once()
            assert (faulty.quality, dict(faulty.values)) == ("fault", {})
            assert "0x0B" in faulty.detail
            simulator.device.clear_fault()
            assert (await poller.poll_once()).quality == "good"
            poller.reader.close()

        run(scenario)


@pytest.mark.parametrize("fault", [Fault.OFFLINE, Fault.LATE])
def test_a_dead_device_does_not_delay_the_others_and_recovers_when_it_comes_back(fault: Fault) -> None:
    measure_s = 3.0
    simulators = [PeopleCounterSimulator(seed=seed) for seed in range(3)]
    arrivals: dict[str, list[tuple[float, str]]] = defaultdict(list)

    def record(snapshot: PointSnapshot) -> None:
        arrivals[snapshot.device_id].append((time.monotonic(), snapshot.quality))

    for simulator in simulators:
        simulator.start()
    try:
        pollers = [
            counter_poller(simulator, f"counter-{n}", seed=n, interval_s=INTERVAL_S)
            for n, simulator in enumerate(simulators)
        ]
        scheduler = PollScheduler(pollers, record)
        dead = simulators[0]

        async def scenario() -> None:
            polling = asyncio.create_task(scheduler.run())
            await asyncio.sleep(0.5)
            dead.device.set_fault(fault, late_s=TIMEOUT_S * 2)
            await asyncio.sleep(0.2)
            window_start = time.monotonic()
            await asyncio.sleep(measure_s)
            window_end = time.monotonic()
            dead.device.clear_fault()
            cleared_at = time.monotonic()
            while not any(at > cleared_at and quality == "good" for at, quality in arrivals["counter-0"]):
                assert time.monotonic() - cleared_at < 3.0, "the dead device never recovered"
                await asyncio.sleep(0.05)
            polling.cancel()
            with pytest.raises(asyncio.CancelledError):
                await polling
            for name in ("counter-1", "counter-2"):
                times = [at for at, _ in arrivals[name] if window_start <= at <= window_end]
                gaps = [later - earlier for earlier, later in pairwise(times)]
                assert len(gaps) >= 10, f"{name} polled only {len(times)} times in {measure_s} s"
                assert abs(statistics.median(gaps) - INTERVAL_S) <= 0.25 * INTERVAL_S, (name, gaps)
                assert max(gaps) <= INTERVAL_S * 1.1 + TIMEOUT_S + 0.1, (name, gaps)
                assert {quality for at, quality in arrivals[name]} == {"good"}
            during = {quality for at, quality in arrivals["counter-0"] if window_start <= at <= window_end}
            assert during == {"unreachable"}

        run(scenario)
        assert scheduler.failed_polls["counter-0"] > 0
        assert scheduler.failed_polls["counter-1"] == scheduler.failed_polls["counter-2"] == 0
    finally:
        for simulator in simulators:
            simulator.stop()
