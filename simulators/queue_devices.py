"""Simulated MQTT queue devices: ticket dispenser, window call terminal and display board, built from the catalogue.

Each speaks :mod:`devices.vendors.queue_devices` over its own MQTT connection to the site broker, exactly as the
real device would, so a real device can replace it by configuration. Timestamps are the wall clock in the device's
local zone (the server refuses readings from the future; a scenario's clock only decides what happens when).
Heartbeats go out when ``tick()`` finds one due: right after connecting, then every ``report_interval_s``; a
:class:`QueueDeviceFleet` ticks its devices from one thread.

Faults, settable at any time from any thread (see :mod:`simulators.queue_device_base`):
- ``set_offline(True)``: stops publishing and answering, and the MQTT connection closes; presses meanwhile are
  lost (counted in ``dropped``), as on a real device without a connection.
- ``inject_malformed(n)``: the next ``n`` payloads are garbage of a seeded choice of kinds instead of the message.
- ``burst(n)`` (dispenser, terminal): ``n`` presses at once.
- dispenser ``run_out_of_paper()``: prints fail with ``paper_out`` until ``load_paper()``.
Randomness (garbage kinds, the services of a burst) comes from ``random.Random(f"{seed}:{device.id}")``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from types import TracebackType
from typing import Self, cast

from devices.broker import BrokerAddress
from devices.errors import PayloadRejected
from devices.events import TerminalAction
from devices.site import Device, Site
from devices.timestamps import utc_now
from devices.vendors.queue_devices import (
    BOARD_MODEL,
    DISPENSER_MODEL,
    TERMINAL_MODEL,
    BoardHeartbeat,
    ButtonPress,
    DispenserHeartbeat,
    DisplayShown,
    DisplayState,
    KeyPress,
    PrintFailed,
    PrintRequest,
    QueueMessage,
    TerminalHeartbeat,
    TicketPrinted,
    command_topic,
    parse_display_state,
    parse_print_request,
)
from devices.vendors.ticket_dispenser import PaperState, print_request_id
from devices.vendors.window_terminal import TERMINAL_KEYS
from simulators.queue_device_base import DEVICE_TZ, Header, QueueDeviceSimulator

log = logging.getLogger(__name__)

ROLL_TICKETS = 800  # an 80 mm thermal roll of 80 m, about 10 cm a ticket
PAPER_LOW_TICKETS = 50  # the paper sensor reports "low" below this (datasheet)
FLEET_TICK_S = 0.5  # how often a fleet looks for due heartbeats (heartbeat intervals are whole seconds)


class TicketDispenserSimulator(QueueDeviceSimulator):
    """Button ``i`` requests a ticket for ``device.services[i - 1]``; print requests on /set print one."""

    MODEL = DISPENSER_MODEL
    TAKES_COMMANDS = True

    def __init__(
        self,
        device: Device,
        broker: BrokerAddress,
        *,
        seed: int = 0,
        tz: tzinfo = DEVICE_TZ,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(device, broker, seed=seed, tz=tz, wall_clock=wall_clock)
        self.paper_left = ROLL_TICKETS
        self.printed: list[PrintRequest] = []  # every ticket it printed, in order

    def press(self, service_id: str) -> None:
        """A resident presses the button of ``service_id``; ValueError if the dispenser has none for it."""
        services = self.device.services or ()
        if service_id not in services:
            raise ValueError(f"{self.device.id} has no button for {service_id!r} (it has {', '.join(services)})")
        self.press_button(services.index(service_id) + 1)

    def press_button(self, button: int) -> None:
        self._send(lambda header: ButtonPress(**header, button=button))

    def burst(self, count: int, service_id: str | None = None) -> None:
        """``count`` presses at once, of ``service_id`` or of seeded random services."""
        services = self.device.services or ()
        for _ in range(count):
            self.press(service_id if service_id is not None else self._rng.choice(services))

    def run_out_of_paper(self) -> None:
        with self._lock:
            self.paper_left = 0

    def load_paper(self, tickets: int = ROLL_TICKETS) -> None:
        with self._lock:
            self.paper_left = tickets

    def _heartbeat(self, header: Header) -> QueueMessage:
        return DispenserHeartbeat(**header, paper=self._paper_state())

    def _paper_state(self) -> PaperState:
        return "out" if self.paper_left == 0 else "low" if self.paper_left < PAPER_LOW_TICKETS else "ok"

    def _on_set(self, payload: bytes) -> None:
        try:
            request = parse_print_request(payload)
        except PayloadRejected as exc:
            command_id = print_request_id(payload)
            log.warning("%s: unreadable print request (%s)", self.device.id, exc)
            if command_id is not None:
                self._send(lambda header: PrintFailed(**header, command_id=command_id, reason="bad_request"))
            return
        with self._lock:
            printed = self.paper_left > 0
            if printed:
                self.paper_left -= 1
                self.printed.append(request)
        if printed:
            self._send(lambda header: TicketPrinted(**header, command_id=request.command_id, ticket=request.ticket))
        else:
            self._send(lambda header: PrintFailed(**header, command_id=request.command_id, reason="paper_out"))


class WindowTerminalSimulator(QueueDeviceSimulator):
    """The keypad at ``device.window``."""

    MODEL = TERMINAL_MODEL
    window_open: bool | None = None

    def key(
        self, action: str, *, ticket: str | None = None, to_window: str | None = None, to_service: str | None = None
    ) -> None:
        """Staff press ``action`` (open, close, call_next, recall, no_show, transfer, done); ValueError for a key
        or combination the terminal cannot send (a transfer names exactly one of to_window / to_service)."""
        if action not in TERMINAL_KEYS:
            raise ValueError(f"key {action!r} is not one of {', '.join(TERMINAL_KEYS)}")
        if action in ("open", "close"):
            with self._lock:
                self.window_open = action == "open"
        self._send(
            lambda header: KeyPress(
                **header,
                key=cast(TerminalAction, action),  # checked against TERMINAL_KEYS above
                ticket=ticket,
                to_window=to_window,
                to_service=to_service,
            )
        )

    def burst(self, count: int, action: str = "call_next") -> None:
        for _ in range(count):
            self.key(action)

    def _heartbeat(self, header: Header) -> QueueMessage:
        return TerminalHeartbeat(**header, window_open=self.window_open)


class DisplayBoardSimulator(QueueDeviceSimulator):
    """Shows the state last received on /set (retained, so also the current one after reconnecting)."""

    MODEL = BOARD_MODEL
    TAKES_COMMANDS = True
    state: DisplayState | None = None  # None: blank

    @property
    def text(self) -> str:
        state = self.state
        return "" if state is None else state.text

    def _heartbeat(self, header: Header) -> QueueMessage:
        state = self.state
        return BoardHeartbeat(**header, command_id=None if state is None else state.command_id)

    def _on_set(self, payload: bytes) -> None:
        if not payload:  # the retained state was cleared: blank the board
            self.state = None
            return
        try:
            state = parse_display_state(payload)
        except PayloadRejected as exc:
            log.warning("%s: unreadable display state (%s); keeps showing what it showed", self.device.id, exc)
            return
        self.state = state
        self._send(lambda header: DisplayShown(**header, command_id=state.command_id, text=state.text))


SIMULATOR_OF_MODEL: dict[str, type[QueueDeviceSimulator]] = {
    DISPENSER_MODEL: TicketDispenserSimulator,
    TERMINAL_MODEL: WindowTerminalSimulator,
    BOARD_MODEL: DisplayBoardSimulator,
}


def build_queue_simulators(
    devices: Iterable[Device], broker: BrokerAddress, *, seed: int, tz: tzinfo = DEVICE_TZ
) -> list[QueueDeviceSimulator]:
    """A simulator for every MQTT queue device among ``devices`` (others are left out)."""
    return [
        SIMULATOR_OF_MODEL[device.model](device, broker, seed=seed, tz=tz)
        for device in devices
        if device.model in SIMULATOR_OF_MODEL and device.transport == "mqtt"
    ]


class QueueDeviceFleet:
    """Simulated queue devices running together: started and stopped as one, heartbeats ticked by one thread.

    ``with QueueDeviceFleet(simulators) as fleet: fleet.simulator("complex-ticket-dispenser").press("culture")``
    """

    def __init__(self, simulators: Iterable[QueueDeviceSimulator]) -> None:
        self.simulators = {simulator.device.id: simulator for simulator in simulators}
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_until_stopped, name="queue-device-heartbeats", daemon=True)

    def simulator(self, device_id: str) -> QueueDeviceSimulator:
        try:
            return self.simulators[device_id]
        except KeyError:
            raise KeyError(f"no simulated queue device {device_id!r} (have {', '.join(self.simulators)})") from None

    def start(self) -> None:
        for simulator in self.simulators.values():
            simulator.start()
        self._ticker.start()

    def wait_connected(self, timeout: float) -> bool:
        return all(simulator.wait_connected(timeout) for simulator in self.simulators.values())

    def stop(self) -> None:
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join(timeout=5)
        for simulator in self.simulators.values():
            simulator.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _tick_until_stopped(self) -> None:
        while not self._stop.wait(FLEET_TICK_S):
            for simulator in self.simulators.values():
                try:
                    simulator.tick()
                except Exception:  # one device's failure must not silence the others' heartbeats
                    log.exception("heartbeat of %s failed", simulator.device.id)


def run_queue_devices(site: Site, broker: BrokerAddress, *, seed: int, stop: threading.Event) -> int:
    """Run every MQTT queue device of ``site`` until ``stop`` is set; returns how many ran."""
    simulators = build_queue_simulators(site.devices, broker, seed=seed)
    with QueueDeviceFleet(simulators):
        log.info("simulating %d queue devices of %s against %s", len(simulators), site.id, broker)
        stop.wait()
    return len(simulators)


def run_queue_device(device: Device, broker: BrokerAddress, *, seed: int, stop: threading.Event) -> None:
    """Run one MQTT queue device until ``stop`` is set (``smartcomplex simulate device <model>``)."""
    simulators = build_queue_simulators([device], broker, seed=seed)
    if not simulators:
        raise ValueError(f"device {device.id} ({device.model}) is no MQTT queue device")
    with QueueDeviceFleet(simulators):
        listens = f", commands on {command_topic(str(device.vendor_topic))}" if simulators[0].TAKES_COMMANDS else ""
        print(f"{device.model} {device.serial} publishing on {device.vendor_topic}{listens} at {broker}", flush=True)
        stop.wait()
