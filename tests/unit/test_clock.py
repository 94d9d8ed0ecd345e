"""The server's clock: the wall clock, or the simulated clock a scenario anchors in a file."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.clock_anchor import ClockAnchor, ClockAnchorError, read_clock_anchor, write_clock_anchor
from devices.timestamps import utc_now
from server.clock import ClockNotReady, SimulatedClock, WallClock

SIMULATED = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def test_an_anchor_maps_wall_time_to_simulated_time_and_back() -> None:
    wall = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    anchor = ClockAnchor(SIMULATED, wall, 720.0)
    assert anchor.simulated(wall + timedelta(seconds=5)) == SIMULATED + timedelta(hours=1)
    assert anchor.simulated(wall - timedelta(seconds=5)) == SIMULATED - timedelta(hours=1)
    assert anchor.wall(SIMULATED + timedelta(hours=1)) == wall + timedelta(seconds=5)
    assert anchor.wall_seconds(timedelta(minutes=12)) == pytest.approx(1.0)
    assert ClockAnchor.from_json(anchor.to_json()) == anchor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{}",
        '{"schema": "smartcomplex.clock/v1"}',
        '{"schema": "x", "speed": 1}',
        '{"schema": "smartcomplex.clock/v1", "simulated_start": "2026-11-27T00:00:00Z",'
        ' "wall_start": "2026-11-27T00:00:00Z", "speed": 0}',
        '{"schema": "smartcomplex.clock/v1", "simulated_start": "2026-11-27T00:00:00",'
        ' "wall_start": "2026-11-27T00:00:00Z", "speed": 1}',
    ],
)
def test_a_bad_anchor_is_refused_with_a_clear_error(text: str) -> None:
    with pytest.raises(ClockAnchorError):
        ClockAnchor.from_json(text)


def test_the_simulated_clock_is_not_ready_until_its_anchor_is_written_and_follows_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    clock = SimulatedClock(path)
    assert not clock.ready
    with pytest.raises(ClockNotReady):
        clock.now()
    write_clock_anchor(path, ClockAnchor(SIMULATED, utc_now(), 60.0))
    assert clock.ready
    assert abs(clock.now() - SIMULATED) < timedelta(minutes=1)
    assert clock.wall_seconds(timedelta(minutes=10)) == pytest.approx(10.0)
    write_clock_anchor(path, ClockAnchor(SIMULATED + timedelta(days=1), utc_now(), 60.0))
    os.utime(path, ns=(0, 10**18))  # a different modification time even on a coarse file system clock
    assert clock.now() > SIMULATED + timedelta(hours=23)
    assert read_clock_anchor(tmp_path / "missing.json") is None


def test_the_wall_clock_is_identity_for_device_times() -> None:
    clock = WallClock()
    at = datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)
    assert clock.ready
    assert clock.from_wall(at) == at == clock.to_wall(at)
    assert clock.wall_seconds(timedelta(seconds=90)) == 90
