"""The flusher, driven round by round with an injected clock and an in-memory link standing in for the broker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devices.confirmations import encode_confirmation
from devices.mqtt_link import InboundMessage
from devices.topics import Channel
from edge.outbox import Outbox
from edge.sink import Outgoing
from edge.uplink import Uplink, UplinkTiming

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@dataclass
class FakeLink:
    """Records what was published; ``connected`` is flipped by the test."""

    connected: bool = True
    published: list[tuple[str, int]] = field(default_factory=list)  # (device_id, seq) from each payload
    subscriptions: list[str] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        assert (qos, retain) == (1, False)
        document = json.loads(payload)
        assert topic.endswith(f"/{document['device_id']}/event/occupancy")
        self.published.append((document["device_id"], document["seq"]))

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        self.subscriptions.append(topic_filter)

    def take(self) -> list[tuple[str, int]]:
        sent, self.published = self.published, []
        return sent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3", site_id="complex", topic_root="test/sc")


def submit(outbox: Outbox, *device_ids: str) -> None:
    for device_id in device_ids:
        outbox.submit(Outgoing(device_id, Channel.EVENT, "occupancy", "occupancy.v1", T0, {"people": 1}))


def confirm(uplink: Uplink, confirmed: dict[str, list[int]]) -> None:
    payload = encode_confirmation(confirmed)
    uplink.handle_confirmation(InboundMessage(topic=uplink.topic, payload=payload, qos=1, retain=False, mid=1))


def make(outbox: Outbox, link: FakeLink, clock: Clock, window: int = 3) -> Uplink:
    timing = UplinkTiming(window=window, confirm_timeout_s=30, max_confirm_timeout_s=100)
    return Uplink(outbox, link, timing=timing, clock=clock)


def test_it_listens_for_confirmations_of_its_own_site(outbox: Outbox) -> None:
    link = FakeLink()
    uplink = make(outbox, link, Clock())
    assert link.subscriptions == [uplink.topic] == ["test/sc/v1/complex/_agent/cmd/confirm"]


def test_rows_go_out_in_outbox_order_up_to_the_window(outbox: Outbox) -> None:
    link = FakeLink()
    uplink = make(outbox, link, Clock())
    submit(outbox, "a", "b", "a", "a", "b")
    uplink.step()
    assert link.take() == [("a", 0), ("b", 0), ("a", 1)]
    uplink.step()
    assert link.take() == []  # the window is full until the server confirms
    assert uplink.stats().in_flight == 3


def test_a_confirmation_deletes_the_rows_and_frees_the_window(outbox: Outbox) -> None:
    link = FakeLink()
    uplink = make(outbox, link, Clock())
    submit(outbox, "a", "b", "a", "a", "b")
    uplink.step()
    link.take()
    confirm(uplink, {"a": [0, 1]})
    uplink.step()
    assert link.take() == [("a", 2), ("b", 1)]
    assert [(r.device_id, r.seq) for r in outbox.pending(after_id=0, limit=10)] == [("b", 0), ("a", 2), ("b", 1)]
    assert uplink.stats().confirmed == 2


def test_nothing_is_published_while_the_link_is_down_and_the_window_is_sent_again_after_it_returns(
    outbox: Outbox,
) -> None:
    link = FakeLink()
    uplink = make(outbox, link, Clock())
    submit(outbox, "a", "b")
    uplink.step()
    assert link.take() == [("a", 0), ("b", 0)]
    link.connected = False
    submit(outbox, "a", "b")
    uplink.step()
    assert link.take() == []
    link.connected = True
    uplink.step()
    # The unconfirmed window first, in order, then the new row that fits.
    assert link.take() == [("a", 0), ("b", 0), ("a", 1)]
    assert uplink.stats().resent == 2


def test_an_unanswered_window_is_sent_again_with_a_doubling_wait_that_resets_on_a_confirmation(
    outbox: Outbox,
) -> None:
    link, clock = FakeLink(), Clock()
    uplink = make(outbox, link, clock, window=2)
    submit(outbox, "a", "a", "a")
    uplink.step()
    assert link.take() == [("a", 0), ("a", 1)]
    resend_times = []
    for _ in range(200):  # 200 s of one-second rounds with the server silent
        clock.now += 1
        uplink.step()
        if link.take():
            resend_times.append(clock.now - 1000)
    assert resend_times == [30, 90, 190]  # waits of 30, 60, 100 (the maximum) seconds
    assert uplink.stats().confirm_timeout_s == 100
    confirm(uplink, {"a": [0]})
    uplink.step()
    assert link.take() == [("a", 2)]
    assert uplink.stats().confirm_timeout_s == 30


def test_rows_confirmed_before_they_were_sent_are_never_sent(outbox: Outbox) -> None:
    link = FakeLink()
    uplink = make(outbox, link, Clock())
    submit(outbox, "a", "a", "a")
    # Confirmations for what an earlier run of the agent sent arrive before this run has sent anything.
    confirm(uplink, {"a": [0, 1]})
    uplink.step()
    assert link.take() == [("a", 2)]


def test_a_confirmation_wider_than_the_window_clears_it(outbox: Outbox) -> None:
    link = FakeLink()
    uplink = make(outbox, link, Clock())
    submit(outbox, "a", "a")
    uplink.step()
    payload = json.dumps({"confirmed": {"a": [[0, 2**62]]}}).encode()
    uplink.handle_confirmation(InboundMessage(topic=uplink.topic, payload=payload, qos=1, retain=False, mid=1))
    uplink.step()
    assert uplink.stats().in_flight == 0
    assert outbox.stats().depth == 0


def test_an_unreadable_confirmation_is_counted_and_changes_nothing(outbox: Outbox) -> None:
    link = FakeLink()
    uplink = make(outbox, link, Clock())
    submit(outbox, "a")
    uplink.step()
    uplink.handle_confirmation(InboundMessage(topic=uplink.topic, payload=b"{oops", qos=1, retain=False, mid=1))
    uplink.step()
    assert (uplink.stats().bad_confirmations, uplink.stats().in_flight, outbox.stats().depth) == (1, 1, 1)


def test_timing_refuses_a_maximum_below_the_first_wait() -> None:
    with pytest.raises(ValueError, match="confirm timeouts"):
        UplinkTiming(confirm_timeout_s=60, max_confirm_timeout_s=30)
    with pytest.raises(ValueError, match="window"):
        UplinkTiming(window=0)
