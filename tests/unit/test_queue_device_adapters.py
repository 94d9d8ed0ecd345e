"""The edge's queue device adapters (edge.mqtt_devices) with a fake publisher standing in for the site broker and
an injected clock: vendor messages become the right events, commands get the device's answer as their outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from devices.commands import Command, new_command
from devices.errors import PayloadRejected, RejectReason
from devices.events import TERMINAL_SCHEMA, TICKET_REQUEST_SCHEMA
from devices.site import Site, load_belt
from devices.topics import Channel
from devices.vendors.queue_devices import (
    BoardHeartbeat,
    ButtonPress,
    DispenserHeartbeat,
    DisplayShown,
    KeyPress,
    PrintFailed,
    QueueMessage,
    TicketPrinted,
    encode_queue_message,
    parse_display_state,
    parse_print_request,
)
from edge.mqtt_devices import (
    MAX_CLOCK_AHEAD,
    BoardAdapter,
    DispenserAdapter,
    QueueDeviceAdapter,
    TerminalAdapter,
    build_queue_adapters,
)
from edge.sink import Outgoing

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
CST = timedelta(hours=8)
DISPENSER = "complex-ticket-dispenser"  # buttons: party-building, party-mass, culture, civilization, volunteer
TERMINAL = "complex-window-1-terminal"  # at window-1
BOARD = "complex-waiting-display"
ANSWER_TIMEOUT_S = 0.3


@pytest.fixture(scope="module")
def site() -> Site:
    return load_belt().site("complex")


@dataclass
class FakeSiteBroker:
    """Records what the adapter publishes; ``answer`` (when set) plays the device and replies at once."""

    published: list[tuple[str, bytes, bool]] = field(default_factory=list)
    answer: Callable[[str, bytes], bytes | None] | None = None
    adapter: QueueDeviceAdapter | None = None

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.published.append((topic, payload, retain))
        if self.answer is not None and self.adapter is not None:
            reply = self.answer(topic, payload)
            if reply is not None:
                self.adapter.handle(reply)


@dataclass
class Seen:
    calls: list[tuple[str, datetime]] = field(default_factory=list)

    def __call__(self, device_id: str, at: datetime) -> None:
        self.calls.append((device_id, at))


def adapter_for(
    site: Site, device_id: str, broker: FakeSiteBroker, seen: Seen, clock: Callable[[], datetime] = lambda: NOW
) -> QueueDeviceAdapter:
    adapters = build_queue_adapters(
        site, publish=broker.publish, on_seen=seen, clock=clock, answer_timeout_s=ANSWER_TIMEOUT_S
    )
    adapter = next(a for a in adapters.values() if a.device.id == device_id)
    broker.adapter = adapter
    return adapter


def wire(message: QueueMessage) -> bytes:
    return encode_queue_message(message)


def header(serial: str, at: datetime = NOW - timedelta(seconds=1)) -> dict[str, object]:
    return {"serial": serial, "time": at, "utc_offset": CST, "seq": 5}


def test_adapters_cover_every_queue_device_of_the_site_by_vendor_topic(site: Site) -> None:
    adapters = build_queue_adapters(site, publish=FakeSiteBroker().publish, on_seen=Seen())
    assert {topic: type(a) for topic, a in adapters.items()} == {
        "queue/dispenser/TD0100000001": DispenserAdapter,
        "queue/terminal/WT0101": TerminalAdapter,
        "queue/terminal/WT0102": TerminalAdapter,
        "queue/terminal/WT0103": TerminalAdapter,
        "queue/terminal/WT0104": TerminalAdapter,
        "queue/display/DB0100000001": BoardAdapter,
        # the room panels of the bookable rooms (release warnings) are MQTT display boards too
        "queue/display/DB0100000101": BoardAdapter,
        "queue/display/DB0100000102": BoardAdapter,
        "queue/display/DB0100000103": BoardAdapter,
    }
    panels = {f"complex-{room}-panel" for room in ("sharing-space", "party-school", "council-hall")}
    assert {a.device.id: a.actions for a in adapters.values() if a.actions} == {
        DISPENSER: frozenset({"print"}),
        BOARD: frozenset({"display"}),
    } | {panel: frozenset({"display"}) for panel in panels}


@pytest.mark.parametrize(("button", "service"), [(1, "party-building"), (3, "culture"), (5, "volunteer")])
def test_button_requests_a_ticket_for_the_service_in_that_position(site: Site, button: int, service: str) -> None:
    seen = Seen()
    adapter = adapter_for(site, DISPENSER, FakeSiteBroker(), seen)
    pressed_at = NOW - timedelta(seconds=2)
    items = adapter.handle(wire(ButtonPress(**header("TD0100000001", pressed_at), button=button)))
    assert items == (
        Outgoing(
            DISPENSER,
            Channel.EVENT,
            "ticket_request",
            TICKET_REQUEST_SCHEMA,
            pressed_at,
            {"service": service, "button": button},
            critical=True,
        ),
    )
    assert seen.calls == [(DISPENSER, NOW)]


def test_button_beyond_the_configured_services_is_refused_and_not_seen(site: Site) -> None:
    seen = Seen()
    adapter = adapter_for(site, DISPENSER, FakeSiteBroker(), seen)
    with pytest.raises(PayloadRejected, match="button: 6, but complex-ticket-dispenser has 5") as caught:
        adapter.handle(wire(ButtonPress(**header("TD0100000001"), button=6)))
    assert caught.value.reason is RejectReason.SCHEMA
    assert seen.calls == []


def test_message_with_another_devices_serial_is_refused(site: Site) -> None:
    adapter = adapter_for(site, DISPENSER, FakeSiteBroker(), Seen())
    with pytest.raises(PayloadRejected) as caught:
        adapter.handle(wire(ButtonPress(**header("TD0200000001"), button=1)))
    assert caught.value.reason is RejectReason.DEVICE_MISMATCH


def test_malformed_payload_is_refused_and_the_next_good_one_handled(site: Site) -> None:
    adapter = adapter_for(site, DISPENSER, FakeSiteBroker(), Seen())
    with pytest.raises(PayloadRejected):
        adapter.handle(b'{"type":"button"')
    assert len(adapter.handle(wire(ButtonPress(**header("TD0100000001"), button=2)))) == 1


def test_heartbeat_is_seen_and_sends_nothing(site: Site) -> None:
    seen = Seen()
    adapter = adapter_for(site, DISPENSER, FakeSiteBroker(), seen)
    assert adapter.handle(wire(DispenserHeartbeat(**header("TD0100000001"), paper="low"))) == ()
    assert seen.calls == [(DISPENSER, NOW)]


@pytest.mark.parametrize(
    ("device_time", "observed_at"),
    [
        pytest.param(NOW + MAX_CLOCK_AHEAD, NOW + MAX_CLOCK_AHEAD, id="ahead-within-tolerance"),
        pytest.param(NOW + MAX_CLOCK_AHEAD + timedelta(seconds=1), NOW, id="ahead-beyond-tolerance"),
        pytest.param(datetime(2000, 1, 1, tzinfo=UTC), NOW, id="clock-lost-at-power-up"),
        pytest.param(NOW - timedelta(hours=5), NOW - timedelta(hours=5), id="delivered-late-after-an-outage"),
    ],
)
def test_implausible_device_time_is_replaced_by_the_receive_time(
    site: Site, device_time: datetime, observed_at: datetime
) -> None:
    adapter = adapter_for(site, TERMINAL, FakeSiteBroker(), Seen())
    (item,) = adapter.handle(wire(KeyPress(**header("WT0101", device_time), key="open")))
    assert item.observed_at == observed_at
    assert adapter.clock_corrections == (0 if device_time == observed_at else 1)


def test_key_becomes_a_terminal_event_for_the_terminals_window(site: Site) -> None:
    adapter = adapter_for(site, TERMINAL, FakeSiteBroker(), Seen())
    key = KeyPress(**header("WT0101"), key="transfer", ticket="A017", to_window="window-2")
    (item,) = adapter.handle(wire(key))
    assert (item.device_id, item.channel, item.name, item.schema, item.critical) == (
        TERMINAL,
        Channel.EVENT,
        "terminal",
        TERMINAL_SCHEMA,
        True,
    )
    assert item.data == {
        "window": "window-1",
        "action": "transfer",
        "ticket": "A017",
        "to_window": "window-2",
        "to_service": None,
    }


@pytest.mark.parametrize(
    ("target", "detail"),
    [({"to_window": "window-9"}, "service window"), ({"to_service": "passports"}, "service in site")],
)
def test_transfer_to_somewhere_the_site_does_not_have_is_refused(
    site: Site, target: dict[str, str], detail: str
) -> None:
    adapter = adapter_for(site, TERMINAL, FakeSiteBroker(), Seen())
    with pytest.raises(PayloadRejected, match=detail):
        adapter.handle(wire(KeyPress(**header("WT0101"), key="transfer", **target)))


def print_command(command_id: str = "c-17", ticket: str = "A017") -> Command:
    args = {"ticket": ticket, "service": "culture", "issued_at": "2026-11-28T10:00:00+08:00", "waiting_ahead": 2}
    return new_command(command_id, "print", args, now=NOW)


def test_print_goes_to_the_set_topic_and_is_done_when_printed(site: Site) -> None:
    broker = FakeSiteBroker()
    broker.answer = lambda _topic, payload: wire(
        TicketPrinted(**header("TD0100000001"), command_id=parse_print_request(payload).command_id, ticket="A017")
    )
    adapter = adapter_for(site, DISPENSER, broker, Seen())
    outcome = adapter.execute(print_command())
    assert (outcome.status, dict(outcome.data)) == ("done", {"ticket": "A017"})
    ((topic, payload, retain),) = broker.published
    assert (topic, retain) == ("queue/dispenser/TD0100000001/set", False)
    request = parse_print_request(payload)
    assert (request.command_id, request.ticket, request.service, request.waiting_ahead) == (
        "c-17",
        "A017",
        "culture",
        2,
    )
    assert request.issued_at == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def test_print_fails_with_the_dispensers_reason(site: Site) -> None:
    broker = FakeSiteBroker()
    broker.answer = lambda _topic, payload: wire(
        PrintFailed(**header("TD0100000001"), command_id=parse_print_request(payload).command_id, reason="paper_out")
    )
    outcome = adapter_for(site, DISPENSER, broker, Seen()).execute(print_command())
    assert (outcome.status, outcome.detail, dict(outcome.data)) == (
        "failed",
        "dispenser: paper_out",
        {"reason": "paper_out"},
    )


def test_print_fails_after_the_timeout_when_the_dispenser_is_silent(site: Site) -> None:
    adapter = adapter_for(site, DISPENSER, FakeSiteBroker(), Seen())
    started = time.monotonic()
    outcome = adapter.execute(print_command())
    assert outcome.status == "failed"
    assert "no answer" in outcome.detail
    assert time.monotonic() - started >= ANSWER_TIMEOUT_S


def test_answer_to_another_command_does_not_finish_this_one(site: Site) -> None:
    broker = FakeSiteBroker()
    broker.answer = lambda _topic, _payload: wire(
        TicketPrinted(**header("TD0100000001"), command_id="c-earlier", ticket="A016")
    )
    outcome = adapter_for(site, DISPENSER, broker, Seen()).execute(print_command())
    assert outcome.status == "failed"
    assert "no answer" in outcome.detail


def test_answer_arriving_from_another_thread_is_awaited(site: Site) -> None:
    broker = FakeSiteBroker()
    adapter = adapter_for(site, DISPENSER, broker, Seen())

    def answer_later(_topic: str, payload: bytes) -> None:
        reply = TicketPrinted(
            **header("TD0100000001"), command_id=parse_print_request(payload).command_id, ticket="A017"
        )
        threading.Timer(0.05, adapter.handle, [wire(reply)]).start()

    broker.answer = answer_later
    assert adapter.execute(print_command()).status == "done"


def test_printed_ticket_other_than_asked_fails(site: Site) -> None:
    broker = FakeSiteBroker()
    broker.answer = lambda _topic, payload: wire(
        TicketPrinted(**header("TD0100000001"), command_id=parse_print_request(payload).command_id, ticket="B001")
    )
    outcome = adapter_for(site, DISPENSER, broker, Seen()).execute(print_command())
    assert outcome.status == "failed"
    assert "B001" in outcome.detail


def test_print_with_an_issued_at_that_is_no_time_fails_without_publishing(site: Site) -> None:
    broker = FakeSiteBroker()
    command = new_command(
        "c-1", "print", {"ticket": "A1", "service": "culture", "issued_at": "at ten", "waiting_ahead": 0}, now=NOW
    )
    outcome = adapter_for(site, DISPENSER, broker, Seen()).execute(command)
    assert outcome.status == "failed"
    assert "issued_at" in outcome.detail
    assert broker.published == []


def display_command(command_id: str = "d-9") -> Command:
    return new_command(command_id, "display", {"text": "A017 -> Window 2", "lines": ["A017  Window 2"]}, now=NOW)


def test_display_is_published_retained_and_done_when_shown(site: Site) -> None:
    broker = FakeSiteBroker()
    broker.answer = lambda _topic, payload: wire(
        DisplayShown(
            **header("DB0100000001"), command_id=parse_display_state(payload).command_id, text="A017 -> Window 2"
        )
    )
    outcome = adapter_for(site, BOARD, broker, Seen()).execute(display_command())
    assert outcome.status == "done"
    ((topic, payload, retain),) = broker.published
    assert (topic, retain) == ("queue/display/DB0100000001/set", True)
    state = parse_display_state(payload)
    assert (state.command_id, state.text, state.lines) == ("d-9", "A017 -> Window 2", ("A017  Window 2",))


def test_display_fails_after_the_timeout_saying_the_state_stays_retained(site: Site) -> None:
    outcome = adapter_for(site, BOARD, FakeSiteBroker(), Seen()).execute(display_command())
    assert outcome.status == "failed"
    assert "retained on queue/display/DB0100000001/set" in outcome.detail


def test_board_heartbeat_is_seen(site: Site) -> None:
    seen = Seen()
    adapter = adapter_for(site, BOARD, FakeSiteBroker(), seen)
    assert adapter.handle(wire(BoardHeartbeat(**header("DB0100000001"), command_id=None))) == ()
    assert seen.calls == [(BOARD, NOW)]


def test_terminal_takes_no_commands(site: Site) -> None:
    adapter = adapter_for(site, TERMINAL, FakeSiteBroker(), Seen())
    assert adapter.actions == frozenset()
    assert adapter.execute(display_command()).status == "failed"


def test_answer_timeout_must_fit_inside_the_routers_handler_timeout(site: Site) -> None:
    with pytest.raises(ValueError, match="answer_timeout_s"):
        build_queue_adapters(site, publish=FakeSiteBroker().publish, on_seen=Seen(), answer_timeout_s=30)
