"""Per-model behaviour of the simulated Modbus devices of :mod:`devices.catalogue`, each over a
:class:`~simulators.modbus_device.ModbusDeviceSimulator`.

- People counter: a seeded crossing generator advancing four free-running 32-bit counters (wrap at 2**32, as
  ADAM-6000 counter modules do) and an uptime that grows by seeded gaps between crossings.
- Door controller: badge reads set ``last_card`` and bump the 16-bit ``card_events``; door contact and exit
  button are set by the caller; the strike coil is whatever a master wrote.
- LED board: shows what masters wrote (FC16 only; FC06 is refused by the device, per its map).

Run one alone: ``python -m simulators.modbus_models ditel-led-board --port 5020 --seed 7``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import Self

from devices.catalogue import DOOR_CONTROLLER, LED_BOARD, PEOPLE_COUNTER_MODEL, people_counter_map
from devices.registers import WordOrder
from simulators.modbus_device import MasterWrite, ModbusDeviceSimulator

COUNTER_NAMES = ("channel_1_in", "channel_1_out", "channel_2_in", "channel_2_out")
_COUNTER_MODULUS = 1 << 32
_EVENT_MODULUS = 1 << 16  # card_events is UINT16
# Mean seconds between two crossings at a busy entrance; only shapes the simulated uptime.
MEAN_CROSSING_GAP_S = 6.0


class ModbusModelSimulator:
    """Lifecycle shared by the model simulators: they own one device and start/stop with it."""

    def __init__(self, device: ModbusDeviceSimulator) -> None:
        self.device = device

    @property
    def port(self) -> int:
        return self.device.port

    def start(self) -> None:
        self.device.start()

    def stop(self) -> None:
        self.device.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class PeopleCounterSimulator(ModbusModelSimulator):
    """Two channels of in/out beam counters. Same ``seed``, same sequence of crossings and uptimes.

    ``start_count`` (0..2**32-1) is where every counter starts: set it near 2**32 to exercise the wrap.
    ``live_uptime``: the uptime register also counts wall-clock seconds since start, like a powered module (the edge
    takes an uptime that stops moving for frozen registers); without it uptime moves only with :meth:`advance`, so
    tests stay deterministic.
    """

    def __init__(
        self,
        *,
        seed: int,
        word_order: WordOrder = WordOrder.BIG,
        start_count: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        live_uptime: bool = False,
    ) -> None:
        if not 0 <= start_count < _COUNTER_MODULUS:
            raise ValueError(f"start_count {start_count} is outside 0..{_COUNTER_MODULUS - 1}")
        super().__init__(ModbusDeviceSimulator(people_counter_map(word_order), host=host, port=port))
        self._random = random.Random(seed)
        self._counts = dict.fromkeys(COUNTER_NAMES, start_count)
        self._uptime_s = 0.0
        self._powered_at = time.monotonic()
        self._live_uptime = live_uptime
        self._publish()
        if live_uptime:
            self.device.before_answer = self._publish

    @property
    def counts(self) -> Mapping[str, int]:
        return MappingProxyType(dict(self._counts))

    def cross(self, counter: str, times: int = 1) -> None:
        """``times`` people cross on one counter (e.g. "channel_1_in"); the counter wraps at 2**32."""
        if counter not in self._counts:
            raise KeyError(f"people counter has no counter {counter!r}; it has {COUNTER_NAMES}")
        self._counts[counter] = (self._counts[counter] + times) % _COUNTER_MODULUS
        self._publish()

    def advance(self, crossings: int) -> tuple[str, ...]:
        """``crossings`` seeded random crossings; returns the counter each one bumped, in order."""
        chosen = tuple(self._random.choice(COUNTER_NAMES) for _ in range(crossings))
        for counter in chosen:
            self._counts[counter] = (self._counts[counter] + 1) % _COUNTER_MODULUS
            self._uptime_s += self._random.expovariate(1 / MEAN_CROSSING_GAP_S)
        self._publish()
        return chosen

    def _publish(self) -> None:
        uptime_s = self._uptime_s + (time.monotonic() - self._powered_at if self._live_uptime else 0.0)
        self.device.set_values({**self._counts, "status": 0, "uptime": int(uptime_s) % _COUNTER_MODULUS})


class DoorControllerSimulator(ModbusModelSimulator):
    """A card reader and door IO: door starts closed, strike locked, no badge read yet."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(ModbusDeviceSimulator(DOOR_CONTROLLER, host=host, port=port))
        self._events = 0
        self.device.set_values(
            {"last_card": 0, "card_events": 0, "door_closed": True, "exit_requested": False, "strike_released": False}
        )

    def badge(self, card_number: int) -> None:
        """A card is read: ``last_card`` becomes its number and ``card_events`` counts one more (wraps at 2**16)."""
        self._events = (self._events + 1) % _EVENT_MODULUS
        self.device.set_values({"last_card": card_number, "card_events": self._events})

    def set_door_closed(self, closed: bool) -> None:
        self.device.set_value("door_closed", closed)

    def set_exit_requested(self, pressed: bool) -> None:
        self.device.set_value("exit_requested", pressed)

    @property
    def strike_released(self) -> bool:
        """What a master last wrote to the strike coil (False until one does)."""
        return bool(self.device.value("strike_released"))


class LedBoardSimulator(ModbusModelSimulator):
    """A Ditel display: blank until a master writes; reports what it shows and every write it took."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(ModbusDeviceSimulator(LED_BOARD, host=host, port=port))
        self.device.set_values({"text": "", "number": 0, "counter": 0})

    @property
    def text(self) -> str:
        return str(self.device.value("text"))

    @property
    def number(self) -> int:
        return int(self.device.value("number"))

    @property
    def counter(self) -> int:
        return int(self.device.value("counter"))

    def writes(self) -> tuple[MasterWrite, ...]:
        return self.device.writes()


def build_model_simulator(model: str, *, seed: int, host: str = "127.0.0.1", port: int = 0) -> ModbusModelSimulator:
    """The simulator of a catalogue model name; KeyError for a model we do not simulate."""
    if model == PEOPLE_COUNTER_MODEL:
        return PeopleCounterSimulator(seed=seed, host=host, port=port)
    if model == DOOR_CONTROLLER.model:
        return DoorControllerSimulator(host=host, port=port)
    if model == LED_BOARD.model:
        return LedBoardSimulator(host=host, port=port)
    raise KeyError(f"no simulator for Modbus model {model!r}")


def serve_model(model: str, *, seed: int, host: str, port: int, stop: threading.Event) -> None:
    """Serve one model until ``stop`` is set (``smartcomplex simulate device``); a counter sees a crossing a second."""
    with build_model_simulator(model, seed=seed, host=host, port=port) as simulator:
        print(f"{model} serving Modbus TCP on {host}:{simulator.port}", flush=True)
        while not stop.wait(1.0):
            if isinstance(simulator, PeopleCounterSimulator):
                simulator.advance(1)
