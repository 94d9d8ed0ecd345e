"""Simulated queue devices without a broker: what they refuse to send, what a disconnected device loses, and that
every kind of garbage they can be told to publish is garbage to the edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.broker import BrokerAddress
from devices.errors import PayloadRejected
from devices.site import Site, load_belt
from devices.vendors.queue_devices import (
    BOARD_MODEL,
    DISPENSER_MODEL,
    TERMINAL_MODEL,
    BoardHeartbeat,
    ButtonPress,
    KeyPress,
    QueueMessage,
    encode_queue_message,
    parse_queue_message,
)
from simulators.queue_device_base import GARBAGE_KINDS, garbage
from simulators.queue_devices import (
    DisplayBoardSimulator,
    TicketDispenserSimulator,
    WindowTerminalSimulator,
    build_queue_simulators,
)

NOWHERE = BrokerAddress("127.0.0.1", 9)  # never connected to in these tests
AT = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def site() -> Site:
    return load_belt().site("complex")


GOOD: list[tuple[str, QueueMessage]] = [
    (DISPENSER_MODEL, ButtonPress(serial="TD1", time=AT, seq=1, button=1)),
    (TERMINAL_MODEL, KeyPress(serial="WT1", time=AT, seq=2, key="transfer", to_service="culture")),
    (BOARD_MODEL, BoardHeartbeat(serial="DB1", time=AT, utc_offset=timedelta(0), command_id=None)),
]


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
@pytest.mark.parametrize(("model", "message"), GOOD, ids=[model for model, _ in GOOD])
def test_every_kind_of_garbage_is_refused_by_the_parser(model: str, message: QueueMessage, kind: str) -> None:
    good = encode_queue_message(message)
    assert parse_queue_message(model, good) == message
    with pytest.raises(PayloadRejected):
        parse_queue_message(model, garbage(good, kind))


def test_simulators_are_built_for_the_queue_devices_of_a_site_only(site: Site) -> None:
    simulators = build_queue_simulators(site.devices, NOWHERE, seed=1)
    assert sorted((type(s).__name__, s.device.id) for s in simulators) == sorted(
        [("TicketDispenserSimulator", "complex-ticket-dispenser"), ("DisplayBoardSimulator", "complex-waiting-display")]
        + [("WindowTerminalSimulator", f"complex-window-{n}-terminal") for n in range(1, 5)]
        + [
            ("DisplayBoardSimulator", f"complex-{room}-panel")
            for room in ("sharing-space", "party-school", "council-hall")
        ]
    )


def test_a_simulator_refuses_a_device_of_another_model(site: Site) -> None:
    with pytest.raises(ValueError, match="is no mqtt-display-board"):
        DisplayBoardSimulator(site.device("complex-ticket-dispenser"), NOWHERE)


def test_pressing_for_a_service_without_a_button_is_an_error(site: Site) -> None:
    dispenser = TicketDispenserSimulator(site.device("complex-ticket-dispenser"), NOWHERE)
    with pytest.raises(ValueError, match="no button for 'legal-service'"):
        dispenser.press("legal-service")


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        pytest.param("dance", {}, id="unknown-key"),
        pytest.param("transfer", {}, id="transfer-without-target"),
        pytest.param("transfer", {"to_window": "window-2", "to_service": "culture"}, id="transfer-to-both"),
        pytest.param("call_next", {"ticket": "A017"}, id="ticket-on-call-next"),
    ],
)
def test_a_key_the_terminal_cannot_send_is_an_error_even_while_disconnected(
    site: Site, action: str, extra: dict[str, str]
) -> None:
    terminal = WindowTerminalSimulator(site.device("complex-window-1-terminal"), NOWHERE)
    with pytest.raises(ValueError):  # noqa: PT011 - the message is free text; the type is the contract
        terminal.key(action, **extra)


def test_presses_of_a_disconnected_device_are_lost_and_counted(site: Site) -> None:
    dispenser = TicketDispenserSimulator(site.device("complex-ticket-dispenser"), NOWHERE, seed=3)
    dispenser.burst(4)
    dispenser.set_offline(True)
    dispenser.press("culture")
    assert (dispenser.published, dispenser.dropped) == (0, 5)


def test_window_state_follows_the_open_and_close_keys(site: Site) -> None:
    terminal = WindowTerminalSimulator(site.device("complex-window-1-terminal"), NOWHERE)
    assert terminal.window_open is None
    terminal.key("open")
    assert terminal.window_open is True
    terminal.key("close")
    assert terminal.window_open is False
