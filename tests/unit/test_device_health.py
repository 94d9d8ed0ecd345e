"""Device health from messages, polls and silence, with an injected clock and a list as the status sink."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from devices.site import Device
from edge.device_health import DeviceHealth
from edge.sink import DeviceStatus

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

SENSOR = Device(
    id="sensor",
    model="milesight-vs121",
    space="hall",
    transport="mqtt",
    report_interval_s=60,
    serial="S1",
    vendor_topic="vendor/s1",
)
COUNTER = Device(
    id="counter",
    model="modbus-people-counter",
    space="hall",
    transport="modbus",
    report_interval_s=10,
    host="127.0.0.1",
    port=502,
    unit=1,
)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class Statuses:
    def __init__(self) -> None:
        self.published: list[DeviceStatus] = []

    def publish_status(self, status: DeviceStatus) -> None:
        self.published.append(status)

    def states(self, device_id: str) -> list[str]:
        return [s.state for s in self.published if s.device_id == device_id]


@dataclass(frozen=True)
class Poll:
    device_id: str
    taken_at: datetime
    quality: str
    detail: str = ""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def statuses() -> Statuses:
    return Statuses()


@pytest.fixture
def health(clock: Clock, statuses: Statuses) -> DeviceHealth:
    return DeviceHealth([SENSOR, COUNTER], statuses, clock=clock)


def test_a_message_makes_a_device_online_with_since_and_last_seen(
    health: DeviceHealth, clock: Clock, statuses: Statuses
) -> None:
    at = clock.advance(5)
    health.seen("sensor", at)
    assert statuses.published == [DeviceStatus("sensor", "online", at, at)]


def test_further_messages_publish_nothing_but_move_last_seen(
    health: DeviceHealth, clock: Clock, statuses: Statuses
) -> None:
    first = clock.advance(5)
    health.seen("sensor", first)
    later = clock.advance(60)
    health.seen("sensor", later)
    assert len(statuses.published) == 1
    clock.advance(3 * 60 + 1)
    health.tick()
    sensor = [s for s in statuses.published if s.device_id == "sensor"]
    assert [(s.state, s.last_seen) for s in sensor] == [("online", first), ("stale", later)]


def test_an_mqtt_device_goes_stale_after_three_missed_intervals_and_back_online_when_seen(
    health: DeviceHealth, clock: Clock, statuses: Statuses
) -> None:
    seen_at = clock.advance(1)
    health.seen("sensor", seen_at)
    clock.advance(3 * 60)
    health.tick()
    assert statuses.states("sensor") == ["online"]  # exactly three intervals: not yet
    clock.advance(1)
    health.tick()
    stale = statuses.published[-1]
    assert (stale.state, stale.since, stale.last_seen) == ("stale", seen_at + timedelta(seconds=180), seen_at)
    assert "no report" in stale.detail
    back = clock.advance(5)
    health.seen("sensor", back)
    assert statuses.published[-1] == DeviceStatus("sensor", "online", back, back)


def test_a_silent_device_goes_offline_after_ten_intervals(
    health: DeviceHealth, clock: Clock, statuses: Statuses
) -> None:
    health.seen("sensor", clock.now)
    for _ in range(12):
        clock.advance(60)
        health.tick()
    assert statuses.states("sensor") == ["online", "stale", "offline"]
    assert statuses.published[-1].since == START + timedelta(seconds=600)


def test_a_device_never_heard_from_is_offline_with_no_last_seen(
    health: DeviceHealth, clock: Clock, statuses: Statuses
) -> None:
    clock.advance(31)
    health.tick()
    counter = statuses.published[-1]
    assert (counter.device_id, counter.state, counter.last_seen) == ("counter", "offline", None)
    assert counter.detail == "no report since the agent started"
    assert statuses.states("sensor") == []  # 31 s is not three of its 60 s intervals


@pytest.mark.parametrize(
    ("quality", "state"), [("good", "online"), ("stale", "stale"), ("unreachable", "offline"), ("fault", "offline")]
)
def test_a_modbus_poll_quality_sets_the_state(
    health: DeviceHealth, clock: Clock, statuses: Statuses, quality: str, state: str
) -> None:
    health.polled(Poll("counter", clock.advance(1), quality, "why"))
    status = statuses.published[-1]
    assert status.state == state
    assert status.last_seen == (status.since if quality == "good" else None)
    assert status.detail == ("" if quality == "good" else f"{quality}: why")


def test_frozen_then_unreachable_then_good_publishes_each_change_once(
    health: DeviceHealth, clock: Clock, statuses: Statuses
) -> None:
    for quality in ["good", "good", "stale", "stale", "unreachable", "fault", "unreachable", "good"]:
        health.polled(Poll("counter", clock.advance(10), quality))
    assert statuses.states("counter") == ["online", "stale", "offline", "online"]
    assert statuses.published[-1].last_seen == clock.now


def test_tick_never_lifts_an_offline_device_to_stale(health: DeviceHealth, clock: Clock, statuses: Statuses) -> None:
    health.polled(Poll("counter", clock.advance(1), "unreachable"))
    clock.advance(45)
    health.tick()
    assert statuses.states("counter") == ["offline"]


def test_a_device_saying_it_is_gone_is_offline_at_once(health: DeviceHealth, clock: Clock, statuses: Statuses) -> None:
    health.seen("sensor", clock.advance(1))
    health.lost("sensor", clock.advance(1), "last will")
    assert statuses.published[-1].state == "offline"
    assert statuses.published[-1].detail == "last will"


def test_annotate_republishes_the_state_with_a_detail_and_republish_sends_everything(
    health: DeviceHealth, clock: Clock, statuses: Statuses
) -> None:
    health.polled(Poll("counter", clock.advance(1), "good"))
    health.seen("sensor", clock.advance(1))
    health.annotate("counter", "closing reset: 2 still counted inside")
    assert statuses.published[-1].state == "online"
    assert statuses.published[-1].detail == "closing reset: 2 still counted inside"
    statuses.published.clear()
    health.republish()
    assert sorted(s.device_id for s in statuses.published) == ["counter", "sensor"]


def test_reports_about_unknown_devices_are_counted_and_ignored(health: DeviceHealth, statuses: Statuses) -> None:
    health.seen("nobody")
    health.polled(Poll("nobody", START, "good"))
    assert health.unknown_reports["nobody"] == 2
    assert statuses.published == []


def test_a_failing_status_sink_is_counted_and_the_state_still_kept(clock: Clock) -> None:
    class Broken:
        def publish_status(self, status: DeviceStatus) -> None:
            raise OSError("broker gone")

    health = DeviceHealth([SENSOR], Broken(), clock=clock)
    health.seen("sensor", clock.advance(1))
    assert health.publish_failures == 1
    status = health.status_of("sensor")
    assert status is not None
    assert status.state == "online"
