"""The agent's outbox reporter on an injected clock: a sample every interval, published at once while the centre is
reachable, kept in a bounded ring while it is not and published oldest first after the reconnect."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from devices.mqtt_link import MqttLinkError
from devices.outbox_report import decode_outbox_sample
from devices.topics import Channel
from edge.outbox import Outbox, OutboxError, OutboxStats
from edge.outbox_reporter import OutboxReporter, ring_size_for
from edge.settings import EdgeSettings
from edge.sink import Outgoing

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
TOPIC = "sc/v1/complex/_agent/state/outbox"
INTERVAL_S = 30.0


@dataclass
class Clock:
    """Wall and monotonic time moving together, by hand."""

    elapsed_s: float = 0.0

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.elapsed_s)

    def monotonic(self) -> float:
        return 1000.0 + self.elapsed_s


@dataclass
class Link:
    connected: bool = True
    refuse: bool = False
    sent: list[tuple[str, bytes, int, bool]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> object:
        if self.refuse:
            raise MqttLinkError("refused")
        self.sent.append((topic, payload, qos, retain))
        return None

    def depths(self) -> list[int]:
        return [json.loads(payload)["depth"] for _topic, payload, _qos, _retain in self.sent]

    def retained(self) -> list[bool]:
        return [retain for *_head, retain in self.sent]


@dataclass
class FakeOutbox:
    depth: int = 0
    broken: bool = False

    def stats(self) -> OutboxStats:
        if self.broken:
            raise OutboxError("disk I/O error")
        return OutboxStats(
            depth=self.depth,
            oldest_age_s=None if self.depth == 0 else float(self.depth),
            dropped_telemetry=0,
            max_rows=1000,
        )


def reporter(
    clock: Clock, link: Link, outbox: FakeOutbox, *, ring_size: int | None = None, interval_s: float = INTERVAL_S
) -> OutboxReporter:
    return OutboxReporter(
        read_stats=outbox.stats,
        link=link,
        site_id="complex",
        root="sc",
        interval_s=interval_s,
        ring_size=ring_size,
        clock=clock.wall,
        monotonic=clock.monotonic,
    )


def run_for(subject: OutboxReporter, clock: Clock, seconds: float, *, step_s: float = 1.0) -> None:
    """Step the reporter every ``step_s`` as its thread would, for ``seconds`` after the current step."""
    end = clock.elapsed_s + seconds
    while clock.elapsed_s < end:
        clock.elapsed_s += step_s
        subject.step()


@pytest.mark.parametrize(("interval_s", "size"), [(30.0, 240), (0.5, 14_400), (7200.0, 1), (10_000.0, 1), (7.0, 1028)])
def test_the_ring_holds_two_hours_of_samples_and_at_least_one(interval_s: float, size: int) -> None:
    assert ring_size_for(interval_s) == size
    assert reporter(Clock(), Link(), FakeOutbox(), interval_s=interval_s).ring_size == size


def test_a_sample_is_taken_at_once_and_then_every_interval_on_the_agents_clock() -> None:
    clock, link = Clock(), Link()
    subject = reporter(clock, link, FakeOutbox(depth=3))
    subject.step()
    run_for(subject, clock, 95)
    samples = [decode_outbox_sample(payload) for _topic, payload, _qos, _retain in link.sent]
    assert [sample.ts for sample in samples] == [T0 + timedelta(seconds=s) for s in (0, 30, 60, 90)]
    assert (samples[0].depth, samples[0].oldest_age_s, samples[0].max_rows) == (3, 3.0, 1000)
    assert {(topic, qos) for topic, _payload, qos, _retain in link.sent} == {(TOPIC, 1)}


def test_while_the_centre_is_reachable_each_sample_goes_out_at_once_retained() -> None:
    clock, link = Clock(), Link()
    subject = reporter(clock, link, FakeOutbox())
    subject.step()
    run_for(subject, clock, 60)
    assert link.retained() == [True, True, True]
    assert (subject.pending, subject.published) == ((), 3)


def test_samples_taken_while_the_link_is_down_go_out_after_it_oldest_first_only_the_newest_retained() -> None:
    clock, link, outbox = Clock(), Link(), FakeOutbox()
    subject = reporter(clock, link, outbox)
    subject.step()
    link.connected = False
    for depth in (10, 20, 30, 40):  # the outbox grows during the outage
        outbox.depth = depth
        run_for(subject, clock, INTERVAL_S)
    assert link.depths() == [0]
    assert [sample.depth for sample in subject.pending] == [10, 20, 30, 40]

    link.connected = True
    clock.elapsed_s += 1
    subject.step()
    assert link.depths() == [0, 10, 20, 30, 40]
    assert link.retained() == [True, False, False, False, True]
    stamps = [decode_outbox_sample(payload).ts for _topic, payload, _qos, _retain in link.sent]
    assert stamps == [T0 + timedelta(seconds=s) for s in (0, 30, 60, 90, 120)]  # when taken, not when sent
    assert subject.pending == ()


def test_a_long_outage_keeps_the_newest_samples_and_counts_the_ones_pushed_out() -> None:
    clock, link, outbox = Clock(), Link(connected=False), FakeOutbox()
    subject = reporter(clock, link, outbox, ring_size=3)
    subject.step()
    for depth in range(1, 6):
        outbox.depth = depth
        run_for(subject, clock, INTERVAL_S)
    assert (subject.taken, subject.overwritten) == (6, 3)
    link.connected = True
    subject.step()
    assert link.depths() == [3, 4, 5]


def test_a_refused_publish_keeps_the_sample_for_the_next_round() -> None:
    clock, link = Clock(), Link(refuse=True)
    subject = reporter(clock, link, FakeOutbox(depth=1))
    subject.step()
    assert len(subject.pending) == 1
    link.refuse = False
    clock.elapsed_s += 1
    subject.step()
    assert (link.depths(), subject.pending) == ([1], ())


def test_an_outbox_that_cannot_be_read_skips_its_samples_and_the_reporter_goes_on() -> None:
    clock, link, outbox = Clock(), Link(), FakeOutbox(depth=2, broken=True)
    subject = reporter(clock, link, outbox)
    subject.step()
    run_for(subject, clock, 30)
    assert link.sent == []
    outbox.broken = False
    run_for(subject, clock, 30)
    assert (link.depths(), subject.taken) == ([2], 1)


def test_a_stalled_reporter_takes_one_sample_not_a_burst_and_keeps_its_interval() -> None:
    clock, link = Clock(), Link()
    subject = reporter(clock, link, FakeOutbox())
    subject.step()
    clock.elapsed_s = 10 * INTERVAL_S + 5  # the thread did not run for ten intervals
    subject.step()
    subject.step()
    run_for(subject, clock, INTERVAL_S)
    stamps = [decode_outbox_sample(payload).ts for _topic, payload, _qos, _retain in link.sent]
    assert stamps == [T0, T0 + timedelta(seconds=305), T0 + timedelta(seconds=335)]


def test_a_sample_of_a_real_outbox_says_its_depth_and_the_age_of_its_oldest_envelope(tmp_path: Path) -> None:
    clock, link = Clock(), Link()
    outbox = Outbox(tmp_path / "outbox.sqlite3", site_id="complex", clock=clock.wall)
    item = Outgoing("vs121-a", Channel.EVENT, "occupancy", "occupancy.v1", T0, {"people": 1})
    outbox.submit(item)
    outbox.submit(item)
    clock.elapsed_s = 12.5
    subject = OutboxReporter(
        read_stats=outbox.stats, link=link, site_id="complex", root="sc", clock=clock.wall, monotonic=clock.monotonic
    )
    subject.step()
    outbox.close()
    sample = decode_outbox_sample(link.sent[0][1])
    assert (sample.depth, sample.oldest_age_s, sample.dropped_telemetry) == (2, 12.5, 0)
    assert sample.max_rows == outbox.max_rows


def test_the_interval_comes_from_the_environment_and_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    assert EdgeSettings(site_id="complex").outbox_report_interval_s == 30.0
    monkeypatch.setenv("SC_EDGE_OUTBOX_REPORT_INTERVAL_S", "5")
    assert EdgeSettings(site_id="complex").outbox_report_interval_s == 5.0
    for bad in ("0", "-1", "inf", "nan"):
        monkeypatch.setenv("SC_EDGE_OUTBOX_REPORT_INTERVAL_S", bad)
        with pytest.raises(ValidationError, match="outbox_report_interval_s"):
            EdgeSettings(site_id="complex")
    with pytest.raises(ValueError, match="positive"):
        ring_size_for(0)
