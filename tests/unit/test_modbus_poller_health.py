"""The poller's bookkeeping with an in-memory reader: backoff, failures logged once, frozen detection, jitter."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime

import pytest

from devices.catalogue import PEOPLE_COUNTER
from devices.codec import encode_map_values
from devices.registers import ReadBlock, Table
from edge.modbus_poller import DevicePoller, PointSnapshot
from edge.modbus_reader import Backoff, DeviceUnreachable

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


class ScriptedReader:
    """Serves the people counter's holding registers from a dict, or raises DeviceUnreachable when ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.values: dict[str, int] = {
            "channel_1_in": 0,
            "channel_1_out": 0,
            "channel_2_in": 0,
            "channel_2_out": 0,
            "status": 0,
            "uptime": 0,
        }

    async def read(self, table: Table, block: ReadBlock, unit: int) -> tuple[int, ...]:
        if self.down:
            raise DeviceUnreachable("connection refused")
        image = encode_map_values(PEOPLE_COUNTER, self.values)[table]
        return tuple(image.get(address, 0) for address in range(block.start, block.start + block.count))

    def close(self) -> None:
        pass


def poller(
    reader: ScriptedReader,
    *,
    interval_s: float = 5.0,
    must_change: tuple[str, ...] = (),
    stale_after: int = 3,
    rng: random.Random | None = None,
) -> DevicePoller:
    return DevicePoller(
        "counter-1",
        PEOPLE_COUNTER,
        reader,
        interval_s=interval_s,
        must_change=must_change,
        stale_after=stale_after,
        clock=lambda: NOW,
        rng=rng,
    )


def test_backoff_doubles_with_jitter_up_to_its_cap_and_restarts_after_success() -> None:
    backoff = Backoff(0.5, 30.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(10)]
    nominal = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert all(n / 2 <= d <= n for d, n in zip(delays, nominal, strict=True)), delays
    backoff.succeeded()
    assert 0.25 <= backoff.next_delay() <= 0.5


def test_a_failure_is_logged_once_when_it_starts_and_once_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    reader = ScriptedReader()
    device = poller(reader)

    async def scenario() -> list[PointSnapshot]:
        snapshots = [await device.poll_once()]
        reader.down = True
        snapshots += [await device.poll_once() for _ in range(5)]
        reader.down = False
        snapshots.append(await device.poll_once())
        return snapshots

    with caplog.at_level(logging.INFO, logger="edge.modbus_poller"):
        snapshots = asyncio.run(scenario())
    assert [s.quality for s in snapshots] == ["good"] + ["unreachable"] * 5 + ["good"]
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]
    assert "connection refused" in caplog.records[0].getMessage()
    assert "ended after 5 polls" in caplog.records[1].getMessage()
    assert device.failed_polls == 5


def test_a_device_whose_uptime_stops_is_stale_after_n_polls_and_good_again_when_it_moves() -> None:
    reader = ScriptedReader()
    device = poller(reader, must_change=("uptime",), stale_after=2)

    async def scenario() -> list[str]:
        qualities: list[str] = [(await device.poll_once()).quality for _ in range(3)]
        reader.values["uptime"] = 5
        qualities.append((await device.poll_once()).quality)
        return qualities

    assert asyncio.run(scenario()) == ["good", "good", "stale", "good"]


def test_a_must_change_point_the_map_does_not_have_is_refused_at_construction() -> None:
    with pytest.raises(KeyError, match="heartbeat"):
        poller(ScriptedReader(), must_change=("heartbeat",))


def test_poll_intervals_are_jittered_within_ten_percent() -> None:
    device = poller(ScriptedReader(), interval_s=5.0, rng=random.Random(7))
    delays = [device.next_delay_s() for _ in range(200)]
    assert all(4.5 <= d <= 5.5 for d in delays)
    assert max(delays) - min(delays) > 0.5  # actually spread, not constant


def test_a_callback_that_raises_is_counted_and_polling_goes_on() -> None:
    device = poller(ScriptedReader(), interval_s=0.01)
    seen: list[PointSnapshot] = []
    three_seen = asyncio.Event()

    def flaky(snapshot: PointSnapshot) -> None:
        seen.append(snapshot)
        if len(seen) == 3:
            three_seen.set()
        if len(seen) == 1:
            raise RuntimeError("consumer bug")

    async def scenario() -> None:
        polling = asyncio.create_task(device.run(flaky))
        async with asyncio.timeout(5):
            await three_seen.wait()
        polling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await polling

    asyncio.run(scenario())
    assert device.callback_failures == 1


class BrokenReader(ScriptedReader):
    """A reader with a bug: raises something that is not one of the poller's own errors."""

    async def read(self, table: Table, block: ReadBlock, unit: int) -> tuple[int, ...]:
        raise RuntimeError("library bug")


def test_an_unexpected_reader_error_becomes_a_fault_snapshot_not_a_dead_task() -> None:
    device = poller(BrokenReader())
    snapshot = asyncio.run(device.poll_once())
    assert (snapshot.quality, snapshot.values) == ("fault", {})
    assert snapshot.detail == "unexpected RuntimeError: library bug"
    assert device.failed_polls == 1
