"""Simulated VS121 sensors: seeded and reproducible, never above capacity, silent rooms when closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices.site import load_belt
from devices.vendors.milesight_vs121 import parse_vs121_report
from simulators.clock import ScenarioClock
from simulators.sensors import SIMULATED_TICK, build_sensors, day_start

BELT = load_belt()
WALL = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def run_day(seed: int, start: datetime, ticks: int) -> list[tuple[str, int]]:
    sensors = build_sensors(BELT, BELT.sites, seed=seed)
    reports = []
    for tick in range(ticks):
        for sensor in sensors:
            reports += [(r.topic, r.people) for r in sensor.step(start + tick * SIMULATED_TICK, WALL)]
    return reports


def test_the_same_seed_replays_the_same_reports_and_another_seed_differs() -> None:
    start = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # Friday 09:00 in Shanghai
    assert run_day(7, start, 120) == run_day(7, start, 120)
    assert run_day(7, start, 120) != run_day(8, start, 120)


def test_counts_stay_within_capacity_and_rooms_empty_when_closed() -> None:
    sensors = build_sensors(BELT, BELT.sites, seed=3)
    friday_morning = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    for tick in range(360):  # an hour of simulated time
        for sensor in sensors:
            sensor.step(friday_morning + tick * SIMULATED_TICK, WALL)
            assert 0 <= sensor.people <= sensor.space.capacity
    assert any(sensor.people > 0 for sensor in sensors)
    night = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # midnight in Shanghai: every space is closed
    for tick in range(360):
        for sensor in sensors:
            sensor.step(night + tick * SIMULATED_TICK, WALL)
    assert all(sensor.people == 0 for sensor in sensors)


def test_reports_are_vendor_json_stamped_with_the_wall_clock() -> None:
    (sensor, *_rest) = build_sensors(BELT, BELT.sites, seed=1)
    (report,) = sensor.step(datetime(2026, 11, 27, 16, 0, tzinfo=UTC), WALL)
    parsed = parse_vs121_report(report.payload)
    assert parsed.observed_at == WALL
    assert parsed.utc_offset == timedelta(hours=8)
    assert parsed.report_type == "interval"
    assert report.topic == sensor.device.vendor_topic


def test_the_scenario_clock_runs_at_its_speed_from_the_local_start_of_day() -> None:
    ticks = iter([100.0, 130.0])
    start = day_start(BELT, at="10:00", today=WALL)
    clock = ScenarioClock(start=start, speed=60, monotonic=lambda: next(ticks))
    assert start.astimezone(BELT.tz).strftime("%H:%M") == "10:00"
    assert clock.now() - start == timedelta(minutes=30)
    assert clock.real_seconds(timedelta(hours=1)) == 60
