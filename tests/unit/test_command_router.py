"""The command router with in-memory handlers and a list as the outbox: answers, duplicates, timeouts, ordering."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devices.commands import Command, encode_command, new_command
from devices.events import COMMAND_RESULT_SCHEMA
from devices.site import Site, parse_belt
from devices.topics import Channel, command_result_topic, device_topic
from edge.command_handler import CommandOutcome
from edge.commands import CommandRouter
from edge.sink import Outgoing
from tests.waiting import wait_until

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
ROOT = "test/sc"

BELT = """\
schema: smartcomplex.site/v1
name: Test belt
timezone: Asia/Shanghai
sites:
  - id: hub
    name: Hub
    address: No. 1 Test Road
    floors: [{id: 1f, name: Ground floor, level: 1}]
    spaces:
      - {id: hall, name: Hall, floor: 1f, kind: service-hall, capacity: 50, bookable: false,
         hours: {mon-fri: "08:30-17:00"}}
    devices:
      - {id: door, model: modbus-door-controller, space: hall, transport: modbus, host: 192.0.2.3, port: 502,
         unit: 1, report_interval_s: 1}
      - {id: door-2, model: modbus-door-controller, space: hall, transport: modbus, host: 192.0.2.4, port: 502,
         unit: 1, report_interval_s: 1}
      - {id: counter, model: modbus-people-counter, space: hall, transport: modbus, host: 192.0.2.1, port: 502,
         unit: 1, report_interval_s: 10}
"""


def site() -> Site:
    return parse_belt(BELT, source="test").site("hub")


class ListSink:
    def __init__(self) -> None:
        self.items: list[Outgoing] = []
        self._lock = threading.Lock()

    def submit(self, item: Outgoing) -> int:
        with self._lock:
            self.items.append(item)
            return len(self.items)

    def results(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item.data) for item in self.items]


class RecordingDoor:
    """Unlocks by recording; ``hold`` blocks each execution until released; counts concurrent executions."""

    def __init__(self, outcome: CommandOutcome | None = None) -> None:
        self.executed: list[str] = []
        self.hold = threading.Event()
        self.hold.set()
        self.started = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self._outcome = outcome or CommandOutcome("done", "unlocked", {"seconds": 5})
        self._lock = threading.Lock()

    @property
    def actions(self) -> frozenset[str]:
        return frozenset({"unlock"})

    def execute(self, command: Command) -> CommandOutcome:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.started.set()
        try:
            self.hold.wait(10)
            self.executed.append(command.command_id)
            return self._outcome
        finally:
            with self._lock:
                self.running -= 1


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def door() -> RecordingDoor:
    return RecordingDoor()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def router(sink: ListSink, door: RecordingDoor, clock: Clock) -> Iterator[CommandRouter]:
    router = CommandRouter(site(), {"door": door, "door-2": RecordingDoor()}, sink, clock, root=ROOT)
    yield router
    router.close()


def topic(device_id: str = "door", action: str = "unlock") -> str:
    return device_topic("hub", device_id, Channel.CMD, action, root=ROOT)


def payload(command_id: str = "cmd-1", action: str = "unlock", ttl_s: float = 30, **args: Any) -> bytes:
    return encode_command(new_command(command_id, action, args, now=NOW, ttl=timedelta(seconds=ttl_s)))


def answers(sink: ListSink, count: int) -> list[dict[str, Any]]:
    wait_until(lambda: len(sink.items) >= count, timeout=5, what=f"{count} command results")
    time.sleep(0.05)  # and no more than that
    return sink.results()


def test_a_command_runs_on_its_device_and_is_answered_once_on_the_result_channel(
    router: CommandRouter, sink: ListSink, door: RecordingDoor
) -> None:
    router.handle(topic(), payload(seconds=3))
    [result] = answers(sink, 1)
    assert result == {
        "command_id": "cmd-1",
        "action": "unlock",
        "status": "done",
        "detail": "unlocked",
        "data": {"seconds": 5},
    }
    item = sink.items[0]
    assert (item.device_id, item.channel, item.name, item.schema, item.critical) == (
        "door",
        Channel.CMD,
        "unlock/result",
        COMMAND_RESULT_SCHEMA,
        True,
    )
    assert item.observed_at == NOW
    assert door.executed == ["cmd-1"]


def test_an_expired_command_is_answered_expired_and_never_run(
    router: CommandRouter, sink: ListSink, door: RecordingDoor, clock: Clock
) -> None:
    clock.now = NOW + timedelta(seconds=31)
    router.handle(topic(), payload(ttl_s=30))
    [result] = answers(sink, 1)
    assert result["status"] == "expired"
    assert door.executed == []


def test_a_command_that_expires_while_queued_behind_another_is_not_run(
    router: CommandRouter, sink: ListSink, door: RecordingDoor, clock: Clock
) -> None:
    door.hold.clear()
    router.handle(topic(), payload("first", ttl_s=60))
    assert door.started.wait(5)
    router.handle(topic(), payload("second", ttl_s=10))
    clock.now = NOW + timedelta(seconds=20)
    door.hold.set()
    results = {r["command_id"]: r["status"] for r in answers(sink, 2)}
    assert results == {"first": "done", "second": "expired"}
    assert door.executed == ["first"]


@pytest.mark.parametrize(
    ("device_id", "action", "args", "detail"),
    [
        ("nobody", "unlock", {}, "no device 'nobody' in site 'hub'"),
        ("counter", "unlock", {}, "device 'counter' takes no commands"),
        ("door", "display", {"text": "hi"}, "device 'door' takes no 'display' (only unlock)"),
        ("door", "unlock", {"seconds": 600}, "args.seconds"),
        ("door", "unlock", {"seconds": "5"}, "args.seconds"),
    ],
    ids=["unknown-device", "device-without-commands", "unsupported-action", "seconds-too-long", "seconds-as-text"],
)
def test_bad_commands_are_rejected_with_a_reason(
    router: CommandRouter,
    sink: ListSink,
    door: RecordingDoor,
    device_id: str,
    action: str,
    args: dict[str, Any],
    detail: str,
) -> None:
    # Built by hand: new_command would refuse the bad args the router must catch.
    command = Command("bad-1", action, NOW, NOW + timedelta(seconds=30), args)
    router.handle(topic(device_id, action), encode_command(command))
    [result] = answers(sink, 1)
    assert (result["command_id"], result["action"], result["status"]) == ("bad-1", action, "rejected")
    assert detail in result["detail"]
    assert sink.items[0].device_id == device_id
    assert door.executed == []


def test_a_malformed_payload_with_a_readable_id_is_rejected_naming_the_field(
    router: CommandRouter, sink: ListSink
) -> None:
    router.handle(topic(), b'{"command_id": "cmd-9", "issued_at": "yesterday", "expires_at": 5, "args": {}}')
    [result] = answers(sink, 1)
    assert (result["command_id"], result["status"]) == ("cmd-9", "rejected")
    assert "issued_at" in result["detail"]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"command_id": "has spaces"}', b"\xff\xfe"])
def test_an_undecodable_payload_without_an_id_is_counted_and_not_answered(
    router: CommandRouter, sink: ListSink, body: bytes
) -> None:
    router.handle(topic(), body)
    assert router.counts["undecodable"] == 1
    assert sink.items == []


def test_a_redelivered_command_runs_once_and_is_answered_again_with_the_stored_result(
    router: CommandRouter, sink: ListSink, door: RecordingDoor
) -> None:
    router.handle(topic(), payload("cmd-1"))
    answers(sink, 1)
    router.handle(topic(), payload("cmd-1"))
    first, again = answers(sink, 2)
    assert first == again
    assert door.executed == ["cmd-1"]
    assert router.counts["duplicates"] == 1


def test_a_command_redelivered_while_it_runs_is_not_run_again_nor_answered_twice(
    router: CommandRouter, sink: ListSink, door: RecordingDoor
) -> None:
    door.hold.clear()
    router.handle(topic(), payload("cmd-1"))
    assert door.started.wait(5)
    router.handle(topic(), payload("cmd-1"))
    door.hold.set()
    assert [r["status"] for r in answers(sink, 1)] == ["done"]
    assert door.executed == ["cmd-1"]


def test_a_handler_that_raises_is_answered_failed_with_the_error(sink: ListSink, clock: Clock) -> None:
    class Exploding(RecordingDoor):
        def execute(self, command: Command) -> CommandOutcome:
            raise OSError("relay module on fire")

    router = CommandRouter(site(), {"door": Exploding()}, sink, clock, root=ROOT)
    try:
        router.handle(topic(), payload())
        [result] = answers(sink, 1)
    finally:
        router.close()
    assert result["status"] == "failed"
    assert result["detail"] == "handler error: OSError: relay module on fire"


def test_a_handler_past_its_timeout_is_answered_failed_and_the_next_command_waits_for_it(
    sink: ListSink, clock: Clock
) -> None:
    slow = RecordingDoor()
    slow.hold.clear()
    router = CommandRouter(site(), {"door": slow}, sink, clock, root=ROOT, handler_timeout_s=0.2)
    try:
        router.handle(topic(), payload("slow"))
        router.handle(topic(), payload("next"))
        [timed_out] = answers(sink, 1)
        assert (timed_out["command_id"], timed_out["status"]) == ("slow", "failed")
        assert "did not finish within 0.2 s" in timed_out["detail"]
        assert slow.executed == []  # "next" has not started while "slow" still runs
        slow.hold.set()
        results = answers(sink, 2)
    finally:
        router.close()
    assert [(r["command_id"], r["status"]) for r in results] == [("slow", "failed"), ("next", "done")]
    assert slow.most_at_once == 1


def test_commands_to_one_device_run_one_at_a_time_while_other_devices_run_alongside(
    sink: ListSink, clock: Clock
) -> None:
    first, second = RecordingDoor(), RecordingDoor()
    first.hold.clear()
    router = CommandRouter(site(), {"door": first, "door-2": second}, sink, clock, root=ROOT)
    try:
        started = time.monotonic()
        for n in range(4):
            router.handle(topic(), payload(f"a{n}"))
        assert time.monotonic() - started < 0.5, "handle() waited for the device"
        router.handle(topic("door-2"), payload("b0"))
        wait_until(lambda: second.executed == ["b0"], timeout=5, what="door-2 to run while door is busy")
        first.hold.set()
        answers(sink, 5)
    finally:
        router.close()
    assert first.executed == ["a0", "a1", "a2", "a3"]
    assert first.most_at_once == 1


def test_a_full_device_queue_answers_failed_busy(sink: ListSink, clock: Clock) -> None:
    busy = RecordingDoor()
    busy.hold.clear()
    router = CommandRouter(site(), {"door": busy}, sink, clock, root=ROOT, queue_size=1)
    try:
        router.handle(topic(), payload("running"))
        assert busy.started.wait(5)
        router.handle(topic(), payload("waiting"))
        router.handle(topic(), payload("one-too-many"))
        [refused] = answers(sink, 1)
        assert (refused["command_id"], refused["status"]) == ("one-too-many", "failed")
        assert "device busy" in refused["detail"]
        busy.hold.set()
        answers(sink, 3)
    finally:
        router.close()


def test_results_other_sites_and_agent_commands_are_ignored(router: CommandRouter, sink: ListSink) -> None:
    router.handle(command_result_topic("hub", "door", "unlock", root=ROOT), payload())
    router.handle(device_topic("elsewhere", "door", Channel.CMD, "unlock", root=ROOT), payload())
    router.handle(f"{ROOT}/v1/hub/_agent/cmd/confirm", b"{}")
    router.handle("some/other/topic", payload())
    time.sleep(0.1)
    assert sink.items == []
    assert router.counts["bad_topic"] == 1


def test_closing_answers_queued_commands_failed(sink: ListSink, clock: Clock) -> None:
    busy = RecordingDoor()
    busy.hold.clear()
    router = CommandRouter(site(), {"door": busy}, sink, clock, root=ROOT)
    router.handle(topic(), payload("running"))
    assert busy.started.wait(5)
    router.handle(topic(), payload("queued"))
    closing = threading.Thread(target=router.close)
    closing.start()
    wait_until(lambda: router.stopping, timeout=5, what="the router to start closing")
    busy.hold.set()
    closing.join(5)
    results = {r["command_id"]: (r["status"], r["detail"]) for r in answers(sink, 2)}
    assert results["running"][0] == "done"
    assert results["queued"] == ("failed", "not run: the agent is stopping")


class RecordingQueue(RecordingDoor):
    @property
    def actions(self) -> frozenset[str]:
        return frozenset({"take"})


def test_the_agents_own_queue_takes_its_commands_with_a_deeper_queue_than_a_device(
    sink: ListSink, clock: Clock
) -> None:
    queue = RecordingQueue()
    queue.hold.clear()
    router = CommandRouter(site(), {"_agent": queue}, sink, clock, root=ROOT, queue_size=1, queue_sizes={"_agent": 5})
    try:
        for number in range(6):  # one running, five waiting: none refused as busy
            router.handle(f"{ROOT}/v1/hub/_agent/cmd/take", payload(f"take-{number}", "take", service="affairs"))
            if number == 0:
                assert queue.started.wait(5)
        queue.hold.set()
        results = answers(sink, 6)
        assert [(r["command_id"], r["status"]) for r in results] == [(f"take-{n}", "done") for n in range(6)]
        assert {item.device_id for item in sink.items} == {"_agent"}
        assert queue.executed == [f"take-{n}" for n in range(6)]
    finally:
        router.close()
