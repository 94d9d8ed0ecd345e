"""What the scenario runner needs from queue devices it does not simulate itself, and how it is given them.

Ticket dispensers and window terminals are simulated elsewhere (MQTT, simulators/queue_devices.py); the runner
only presses their buttons and keys. It is given a registry: device model name -> factory building the driver of
one device of the site file. A device whose model has no factory is left alone and its actions are counted as
skipped, so a run works (and is tested) with the occupancy sensors and Modbus devices alone.

Wiring, e.g. in the command line::

    drivers = {
        "mqtt-ticket-dispenser": lambda site, device: TicketDispenser(device, broker=...),
        "mqtt-window-terminal": lambda site, device: WindowTerminal(device, broker=...),
    }

A driver that has a ``close()`` method is closed when the run ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from devices.site import Device, Site

DISPENSER_MODEL = "mqtt-ticket-dispenser"
TERMINAL_MODEL = "mqtt-window-terminal"
DOOR_CONTROLLER_MODEL = "modbus-door-controller"
PEOPLE_COUNTER_MODEL = "modbus-people-counter"
LED_BOARD_MODEL = "ditel-led-board"
VS121_MODEL = "milesight-vs121"

# Keys of a window terminal, as staff press them. The scenario presses all but "transfer" (its plan sends
# nobody to another window), and types no ticket: each key acts on the ticket now at the window.
WINDOW_ACTIONS = ("open", "close", "call_next", "recall", "no_show", "transfer", "done")


@runtime_checkable
class TicketDispenserDriver(Protocol):
    def press(self, service_id: str) -> None:
        """A resident presses the button of ``service_id`` (one of the device's ``services``)."""


@runtime_checkable
class WindowTerminalDriver(Protocol):
    def key(self, action: str, *, ticket: str | None = None, to_window: str | None = None) -> None:
        """Staff press ``action`` (one of WINDOW_ACTIONS); ``to_window`` only for a transfer."""


@runtime_checkable
class ClosableDriver(Protocol):
    def close(self) -> None: ...


class DriverFactory(Protocol):
    def __call__(self, site: Site, device: Device) -> TicketDispenserDriver | WindowTerminalDriver: ...


DriverRegistry = Mapping[str, DriverFactory]
