"""What the site queue prints and shows: a ticket per issue at its dispenser, the newest calls on the hall's boards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from devices.commands import Command
from devices.queue_contract import QueueEventData, ServiceView, TicketView
from devices.site import Site, parse_belt
from edge.command_handler import CommandOutcome
from edge.queue_outputs import QueueOutputs, call_headline, queue_boards
from tests.waiting import wait_until

BELT = """\
schema: smartcomplex.site/v1
name: Outputs
timezone: Asia/Shanghai
sites:
  - id: hall
    name: Hall
    address: No. 1 Test Road
    floors: [{id: 1f, name: Ground floor, level: 1}]
    spaces:
      - {id: windows, name: Windows hall, floor: 1f, kind: service-hall, capacity: 60, bookable: false,
         hours: {mon-sun: "00:00-24:00"}}
      - {id: room, name: Room, floor: 1f, kind: meeting-room, capacity: 10, bookable: true,
         hours: {mon-sun: "00:00-24:00"}}
    services:
      - {id: affairs, name: Affairs, prefix: A}
    windows:
      - {id: window-1, name: Window 1, space: windows, services: [affairs]}
      - {id: window-4, name: Window 4 (every service at one counter), space: windows, services: [affairs]}
    devices:
      - {id: dispenser, model: mqtt-ticket-dispenser, space: windows, transport: mqtt, serial: TD1,
         vendor_topic: queue/dispenser/TD1, report_interval_s: 5, services: [affairs]}
      - {id: board, model: mqtt-display-board, space: windows, transport: mqtt, serial: DB1,
         vendor_topic: queue/display/DB1, report_interval_s: 5}
      - {id: led, model: ditel-led-board, space: windows, transport: modbus, host: 192.0.2.1, port: 502, unit: 1,
         report_interval_s: 1}
      - {id: panel, model: mqtt-display-board, space: room, transport: mqtt, serial: DB2,
         vendor_topic: queue/display/DB2, report_interval_s: 5}
"""


class Recorder:
    def __init__(self, actions: frozenset[str]) -> None:
        self.actions = actions
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def execute(self, command: Command) -> CommandOutcome:
        self.entered.set()
        self.gate.wait(5)
        self.commands.append((command.action, dict(command.args)))
        return CommandOutcome("done")


def site() -> Site:
    return parse_belt(BELT, source="test").site("hall")


def ticket(number: str, *, window: str | None = None, status: str = "waiting") -> TicketView:
    return TicketView.model_validate(
        {
            "number": number,
            "day": "2026-11-28",
            "service": "affairs",
            "source": "dispenser",
            "status": status,
            "issued_at": "2026-11-28T02:00:00.000Z",
            "order_at": "2026-11-28T02:00:00.000Z",
            "device": "dispenser",
            "waiting_ahead": 2,
            "shown_wait_lo_s": 300,
            "shown_wait_hi_s": 900,
            "window": window,
        }
    )


def event(kind: str, view: TicketView) -> QueueEventData:
    service = ServiceView(id="affairs", prefix="A", waiting=1, open_windows=1)
    return QueueEventData(kind=kind, at="2026-11-28T02:00:00.000Z", ticket=view, services=[service])  # type: ignore[arg-type]


@pytest.fixture
def devices() -> dict[str, Recorder]:
    return {
        "dispenser": Recorder(frozenset({"print"})),
        "board": Recorder(frozenset({"display"})),
        "led": Recorder(frozenset({"display"})),
        "panel": Recorder(frozenset({"display"})),
    }


@pytest.fixture
def outputs(devices: dict[str, Recorder]) -> Iterator[QueueOutputs]:
    running = QueueOutputs(site(), devices)
    running.start()
    yield running
    running.stop()


def test_the_queue_boards_are_the_halls_not_the_room_panels() -> None:
    assert queue_boards(site()) == ("board", "led")


def test_an_issued_ticket_is_printed_once_with_its_estimate(
    outputs: QueueOutputs, devices: dict[str, Recorder]
) -> None:
    outputs.after([event("issued", ticket("A003"))])
    wait_until(lambda: len(devices["dispenser"].commands) == 1, timeout=5, what="the print")
    action, args = devices["dispenser"].commands[0]
    assert action == "print"
    assert (args["ticket"], args["waiting_ahead"], args["estimate"]) == ("A003", 2, "5-15 min")


def test_a_call_shows_on_every_queue_board_newest_first(outputs: QueueOutputs, devices: dict[str, Recorder]) -> None:
    outputs.after([event("called", ticket("A001", window="window-1", status="called"))])
    wait_until(lambda: len(devices["led"].commands) == 1, timeout=5, what="the first call shown")
    outputs.after([event("called", ticket("A002", window="window-4", status="called"))])
    wait_until(lambda: len(devices["led"].commands) == 2, timeout=5, what="the second call shown")
    assert devices["board"].commands[-1] == (
        "display",
        {"text": "A002 -> window-4", "lines": ["A002  window-4", "A001  Window 1"]},
    )
    assert devices["led"].commands[-1] == ("display", {"text": "A002 -> window-4"})
    assert devices["panel"].commands == []


def test_calls_made_while_a_board_is_busy_are_shown_as_one_newest_picture(
    outputs: QueueOutputs, devices: dict[str, Recorder]
) -> None:
    devices["board"].gate.clear()
    outputs.after([event("called", ticket("A001", window="window-1", status="called"))])
    assert devices["board"].entered.wait(5)  # the worker is at the board, busy with A001
    for number in ("A002", "A003", "A004"):
        outputs.after([event("called", ticket(number, window="window-1", status="called"))])
    devices["board"].gate.set()

    def shown() -> list[str]:
        return [args["text"] for _action, args in devices["board"].commands]

    wait_until(lambda: shown()[-1:] == ["A004 -> Window 1"], timeout=5, what="the newest call on the board")
    assert shown() == ["A001 -> Window 1", "A004 -> Window 1"]


def test_a_headline_fits_a_twenty_character_board() -> None:
    assert call_headline("A1234", "Window 12 upstairs, left") == "A1234 -> Window 12 u"
    assert call_headline("B007", "窗口 3") == "B007 -> ?? 3"
