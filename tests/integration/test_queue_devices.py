"""Simulated MQTT queue devices and the edge's adapters talking through the real Mosquitto (127.0.0.1:1883).

Every test builds the Changping Road complex with its queue devices on vendor topics of its own (a uuid in every
topic and serial), so tests never see each other's messages or retained state. ``EdgeSide`` does what the agent
does with the adapters: subscribes to their vendor topics, hands each message to its adapter, keeps what comes out
and counts what is refused.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from devices.broker import BrokerAddress
from devices.commands import Command, new_command
from devices.errors import PayloadRejected
from devices.mqtt_link import InboundMessage, MqttLink
from devices.site import Device, Site, load_belt
from edge.command_handler import CommandOutcome
from edge.mqtt_devices import QueueDeviceAdapter, build_queue_adapters, publisher_for
from edge.sink import Outgoing
from simulators.queue_devices import (
    DisplayBoardSimulator,
    QueueDeviceFleet,
    TicketDispenserSimulator,
    WindowTerminalSimulator,
)
from tests.waiting import wait_until

BROKER = BrokerAddress("127.0.0.1", 1883)
DISPENSER = "complex-ticket-dispenser"
TERMINAL = "complex-window-2-terminal"
BOARD = "complex-waiting-display"


@pytest.fixture
def site() -> Site:
    """The complex, its queue devices renamed onto topics and serials no other test uses."""
    tag = uuid.uuid4().hex[:8]
    document = load_belt().site("complex").model_dump()
    for device in document["devices"]:
        if device["model"].startswith("mqtt-"):
            device["serial"] = f"{device['serial']}-{tag}"
            device["vendor_topic"] = f"test-{tag}/{device['vendor_topic']}"
    return Site.model_validate(document)


class EdgeSide:
    """The agent's part: vendor messages to adapters, items kept, rejects counted, devices seen."""

    def __init__(self, site: Site, *, answer_timeout_s: float) -> None:
        self.items: list[Outgoing] = []
        self.rejected: Counter[str] = Counter()
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self.link = MqttLink(BROKER, client_id=f"test-edge-{uuid.uuid4().hex[:8]}", on_message=self._on_message)
        self.adapters = build_queue_adapters(
            site, publish=publisher_for(self.link), on_seen=self._on_seen, answer_timeout_s=answer_timeout_s
        )
        for topic in self.adapters:
            self.link.subscribe(topic)
        self.link.start()
        assert self.link.wait_connected(10)

    def adapter(self, device_id: str) -> QueueDeviceAdapter:
        return next(adapter for adapter in self.adapters.values() if adapter.device.id == device_id)

    def of(self, name: str) -> list[Outgoing]:
        with self._lock:
            return [item for item in self.items if item.name == name]

    def _on_seen(self, device_id: str, _at: datetime) -> None:
        with self._lock:
            self.seen.append(device_id)

    def _on_message(self, message: InboundMessage) -> None:
        try:
            items = self.adapters[message.topic].handle(message.payload)
        except PayloadRejected as exc:
            with self._lock:
                self.rejected[str(exc.reason)] += 1
            return
        with self._lock:
            self.items.extend(items)


@pytest.fixture
def edge(site: Site) -> Iterator[EdgeSide]:
    side = EdgeSide(site, answer_timeout_s=4.0)
    yield side
    # Leave no retained display state behind on the shared broker (an empty retained message deletes it).
    for adapter in side.adapters.values():
        side.link.publish_and_wait(adapter.set_topic, b"", retain=True)
    side.link.stop()


def started(simulator: TicketDispenserSimulator) -> TicketDispenserSimulator:
    simulator.start()
    assert simulator.wait_connected(10)
    return simulator


@pytest.fixture
def dispenser(site: Site) -> Iterator[TicketDispenserSimulator]:
    simulator = started(TicketDispenserSimulator(site.device(DISPENSER), BROKER, seed=7))
    yield simulator
    simulator.stop()


def print_command(command_id: str, ticket: str) -> Command:
    args = {"ticket": ticket, "service": "culture", "issued_at": datetime.now(UTC).isoformat(), "waiting_ahead": 0}
    return new_command(command_id, "print", args, now=datetime.now(UTC))


def display_command(command_id: str, text: str) -> Command:
    return new_command(command_id, "display", {"text": text}, now=datetime.now(UTC))


def test_button_press_becomes_a_ticket_request_for_its_service(
    edge: EdgeSide, dispenser: TicketDispenserSimulator
) -> None:
    dispenser.press("culture")
    dispenser.press("party-building")
    wait_until(lambda: len(edge.of("ticket_request")) == 2, what="two ticket requests")
    assert [dict(item.data) for item in edge.of("ticket_request")] == [
        {"service": "culture", "button": 3},
        {"service": "party-building", "button": 1},
    ]
    assert edge.seen == [DISPENSER, DISPENSER]


def test_print_command_is_printed_and_done(edge: EdgeSide, dispenser: TicketDispenserSimulator) -> None:
    outcome = edge.adapter(DISPENSER).execute(print_command("c-print-1", "C017"))
    assert outcome == CommandOutcome("done", data={"ticket": "C017"})
    assert [request.ticket for request in dispenser.printed] == ["C017"]


def test_print_fails_when_the_paper_ran_out_and_works_again_once_loaded(
    edge: EdgeSide, dispenser: TicketDispenserSimulator
) -> None:
    dispenser.run_out_of_paper()
    outcome = edge.adapter(DISPENSER).execute(print_command("c-print-2", "C018"))
    assert (outcome.status, outcome.detail) == ("failed", "dispenser: paper_out")
    dispenser.load_paper()
    assert edge.adapter(DISPENSER).execute(print_command("c-print-3", "C018")).status == "done"


def test_display_state_is_retained_for_a_board_that_connects_later(edge: EdgeSide, site: Site) -> None:
    board = DisplayBoardSimulator(site.device(BOARD), BROKER, seed=1)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The board is not connected when the command goes out; it connects while the edge waits for "shown".
        pending: Future[CommandOutcome] = pool.submit(
            edge.adapter(BOARD).execute,
            display_command("d-1", "A017 -> Window 2"),
        )
        time.sleep(0.3)  # let the command reach the broker before the board exists (the point of the test)
        board.start()
        try:
            assert pending.result(timeout=10) == CommandOutcome("done")
            assert board.text == "A017 -> Window 2"
        finally:
            board.stop()
    # A board powered on long after the call shows it at once too.
    late = DisplayBoardSimulator(site.device(BOARD), BROKER, seed=2)
    late.start()
    try:
        wait_until(lambda: late.text == "A017 -> Window 2", timeout=10, what="the late board to show the call")
    finally:
        late.stop()


def test_display_on_an_offline_board_fails_after_the_timeout(site: Site) -> None:
    edge = EdgeSide(site, answer_timeout_s=1.0)
    board = DisplayBoardSimulator(site.device(BOARD), BROKER, seed=1)
    board.start()
    try:
        assert board.wait_connected(10)
        board.set_offline(True)
        started_at = time.monotonic()
        outcome = edge.adapter(BOARD).execute(display_command("d-2", "B004 -> Window 1"))
        waited = time.monotonic() - started_at
        assert outcome.status == "failed"
        assert "no answer" in outcome.detail
        assert 1.0 <= waited < 3.0
        assert board.text == ""
        board.set_offline(False)  # back online: the retained state arrives and is shown
        wait_until(lambda: board.text == "B004 -> Window 1", timeout=10, what="the board to catch up")
    finally:
        board.stop()
        edge.link.publish_and_wait(edge.adapter(BOARD).set_topic, b"", retain=True)
        edge.link.stop()


def test_malformed_payloads_are_counted_and_later_good_ones_still_handled(
    edge: EdgeSide, dispenser: TicketDispenserSimulator
) -> None:
    dispenser.inject_malformed(12)
    for _ in range(12):
        dispenser.press("volunteer")
    for _ in range(3):
        dispenser.press("party-mass")
    wait_until(lambda: len(edge.of("ticket_request")) == 3, what="the good presses after the garbage")
    wait_until(lambda: sum(edge.rejected.values()) == 12, what="every garbage payload counted")
    assert {item.data["service"] for item in edge.of("ticket_request")} == {"party-mass"}
    assert len(edge.rejected) >= 3  # several kinds of garbage: not JSON, schema, too large, ...


def test_a_burst_of_fifty_presses_loses_none(edge: EdgeSide, dispenser: TicketDispenserSimulator) -> None:
    dispenser.burst(50)
    wait_until(lambda: len(edge.of("ticket_request")) == 50, what="50 ticket requests")
    services = Counter(str(item.data["service"]) for item in edge.of("ticket_request"))
    assert sum(services.values()) == 50
    assert set(services) <= set(dispenser.device.services or ())
    assert not edge.rejected


def test_terminal_key_becomes_a_terminal_event_for_its_window(edge: EdgeSide, site: Site) -> None:
    terminal = WindowTerminalSimulator(site.device(TERMINAL), BROKER, seed=1)
    terminal.start()
    try:
        assert terminal.wait_connected(10)
        terminal.key("open")
        terminal.key("call_next")
        terminal.key("transfer", ticket="A017", to_window="window-4")
        wait_until(lambda: len(edge.of("terminal")) == 3, what="three terminal events")
    finally:
        terminal.stop()
    assert [(item.data["window"], item.data["action"], item.data["to_window"]) for item in edge.of("terminal")] == [
        ("window-2", "open", None),
        ("window-2", "call_next", None),
        ("window-2", "transfer", "window-4"),
    ]


def test_offline_dispenser_loses_presses_and_reports_again_when_back(
    edge: EdgeSide, dispenser: TicketDispenserSimulator
) -> None:
    dispenser.set_offline(True)
    dispenser.press("culture")
    assert dispenser.dropped == 1
    dispenser.set_offline(False)
    assert dispenser.wait_connected(10)
    dispenser.press("culture")
    wait_until(lambda: len(edge.of("ticket_request")) == 1, what="the press after coming back")
    time.sleep(0.3)  # nothing else arrives: the press made while offline is gone
    assert len(edge.of("ticket_request")) == 1


def test_a_fleet_sends_heartbeats_that_mark_each_device_seen(edge: EdgeSide, site: Site) -> None:
    devices: list[Device] = [site.device(DISPENSER), site.device(TERMINAL), site.device(BOARD)]
    simulators = [
        TicketDispenserSimulator(devices[0], BROKER, seed=1),
        WindowTerminalSimulator(devices[1], BROKER, seed=1),
        DisplayBoardSimulator(devices[2], BROKER, seed=1),
    ]
    with QueueDeviceFleet(simulators) as fleet:
        assert fleet.wait_connected(10)
        wait_until(lambda: set(edge.seen) == {DISPENSER, TERMINAL, BOARD}, what="a heartbeat from each device")
    assert edge.items == []  # heartbeats are health, not events
