"""One simulated Modbus TCP device: a pymodbus server serving a catalogue :class:`RegisterMap` on loopback.

The register image lives here, not in pymodbus: values are set by point name through :mod:`devices.codec`, and
pymodbus's per-request ``action`` hook (``pymodbus.simulator.SimDevice``) copies the image into the server's
registers before every request and records every master write back into it. That hook is also where the
fault modes act, so a master sees them exactly as it would see a misbehaving device:

- ``OFFLINE``: listener and open connections closed (the master gets connection refused / reset);
- ``FROZEN``: reads keep returning the image as it was when the fault began, whatever the simulator sets;
- ``LATE``: every reply is held back ``late_s`` seconds, longer than a master's timeout;
- ``EXCEPTION``: every request gets a Modbus exception response (default 0x04 server device failure).

Like the real devices the maps mirror, unmapped addresses answer exception 0x02, writes to read-only points
0x02, and a map with ``write_multiple_only`` refuses FC05/FC06 with 0x01 (Ditel displays take FC15/FC16 only).
The server runs in its own thread with its own event loop; :meth:`ModbusDeviceSimulator.stop` ends both.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Self

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimDataType
from pymodbus.simulator import SimData, SimDevice

from devices.codec import PointValue, decode, encode_map_values
from devices.registers import RegisterMap, Table

# Function code -> table it addresses (Modbus Application Protocol V1.1b3, section 6).
_TABLE_OF_FUNCTION: Mapping[int, Table] = {
    1: Table.COIL,
    5: Table.COIL,
    15: Table.COIL,
    2: Table.DISCRETE_INPUT,
    3: Table.HOLDING_REGISTER,
    6: Table.HOLDING_REGISTER,
    16: Table.HOLDING_REGISTER,
    22: Table.HOLDING_REGISTER,
    23: Table.HOLDING_REGISTER,
    4: Table.INPUT_REGISTER,
}
_SINGLE_WRITES = frozenset({5, 6})
_START_TIMEOUT_S = 5.0
_BITS_PER_WORD = 16  # pymodbus packs coils and discrete inputs 16 to a register, bit 0 first


class SimulatorError(RuntimeError):
    """The simulated device could not start, or was used in a way it does not support."""


class Fault(StrEnum):
    NONE = "none"
    OFFLINE = "offline"
    FROZEN = "frozen"
    LATE = "late"
    EXCEPTION = "exception"


@dataclass(frozen=True, slots=True)
class MasterWrite:
    """One write a master made: function code, table, first address and the words (0/1 for bits) written."""

    function_code: int
    table: Table
    address: int
    values: tuple[int, ...]


# Seconds a closing listener waits for connections it already accepted to get their transports.
_ACCEPT_SETTLE_S = 0.05


def _sim_data(register_map: RegisterMap, table: Table) -> list[SimData]:
    points = register_map.points_in(table)
    if table.holds_bits:
        # An empty bit table still needs one block; the action refuses it since no point lives there.
        addresses = [p.address for p in points] or [0]
        return [SimData(address, values=[False], datatype=SimDataType.BITS) for address in addresses]
    if not points:
        return [SimData(0, datatype=SimDataType.INVALID)]
    return [SimData(p.address, count=p.count, values=0, datatype=SimDataType.REGISTERS) for p in points]


class ModbusDeviceSimulator:
    """A Modbus TCP server for one device model; use as a context manager or call start()/stop()."""

    def __init__(
        self, register_map: RegisterMap, *, host: str = "127.0.0.1", port: int = 0, device_id: int = 1
    ) -> None:
        self.register_map = register_map
        self.host = host
        self._port = port
        self._device_id = device_id
        self._lock = threading.Lock()
        self._image: dict[Table, dict[int, int]] = {table: {} for table in Table}
        self._frozen_image: dict[Table, dict[int, int]] | None = None
        self._fault = Fault.NONE
        self._late_s = 0.0
        self._exception_code = ExcCodes.DEVICE_FAILURE
        self._writes: list[MasterWrite] = []
        self._addresses = {
            table: {a for p in register_map.points_in(table) for a in range(p.address, p.end)} for table in Table
        }
        self._writable = {
            table: {a for p in register_map.points_in(table) if p.writable for a in range(p.address, p.end)}
            for table in Table
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: ModbusTcpServer | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        # Called before each request is answered (on the server's loop): registers a real device updates by itself,
        # such as an uptime counter, are brought up to date here.
        self.before_answer: Callable[[], None] | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port served on (the kernel's choice when constructed with port 0, known after start)."""
        return self._port

    def start(self) -> Self:
        if self._thread is not None:
            raise SimulatorError(f"{self.register_map.model} simulator is already running")
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name=f"modbus-sim-{self.register_map.model}", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S) or self._start_error is not None:
            self.stop()
            raise SimulatorError(f"{self.register_map.model} simulator did not start") from self._start_error
        return self

    def stop(self) -> None:
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(_START_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._start_error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self._listen()
        self._ready.set()
        await self._stopping.wait()
        await self._close_listener()

    async def _listen(self) -> None:
        device = SimDevice(
            id=0,  # id 0 answers every unit id, as a TCP device without a gateway behind it does
            # SimDevice's separate blocks, in its order: coils, discrete inputs, holding, input registers.
            simdata=(
                _sim_data(self.register_map, Table.COIL),
                _sim_data(self.register_map, Table.DISCRETE_INPUT),
                _sim_data(self.register_map, Table.HOLDING_REGISTER),
                _sim_data(self.register_map, Table.INPUT_REGISTER),
            ),
            action=self._on_request,
        )
        server = ModbusTcpServer(device, address=(self.host, self._port))
        await server.serve_forever(background=True)
        listener = server.transport
        if isinstance(listener, asyncio.Server) and listener.sockets:
            self._port = int(listener.sockets[0].getsockname()[1])
        self._server = server

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        listener = server.transport
        if isinstance(listener, asyncio.Server):
            # Stop accepting first and let a connection accepted a moment ago get its transport: closing the server
            # between the two steps leaks the accepted socket (CPython 3.11; simulators/netfault.py does the same).
            loop = asyncio.get_running_loop()
            for sock in listener.sockets:
                loop.remove_reader(sock.fileno())
            await asyncio.sleep(_ACCEPT_SETTLE_S)
        await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated

    def _call_in_loop(self, step: Callable[[], Coroutine[None, None, None]]) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            raise SimulatorError(f"{self.register_map.model} simulator is not running")
        asyncio.run_coroutine_threadsafe(step(), loop).result(_START_TIMEOUT_S)

    # --- faults ----------------------------------------------------------------------------------------------

    @property
    def fault(self) -> Fault:
        return self._fault

    def set_fault(self, fault: Fault, *, late_s: float = 2.0, exception_code: int = ExcCodes.DEVICE_FAILURE) -> None:
        """Start misbehaving (see the module docstring); ``Fault.NONE`` is the same as :meth:`clear_fault`."""
        if fault is not Fault.OFFLINE and self._fault is Fault.OFFLINE:
            self._call_in_loop(self._listen)
        with self._lock:
            self._late_s = late_s
            self._exception_code = ExcCodes(exception_code)
            self._frozen_image = {t: dict(words) for t, words in self._image.items()} if fault is Fault.FROZEN else None
            previous, self._fault = self._fault, fault
        if fault is Fault.OFFLINE and previous is not Fault.OFFLINE:
            self._call_in_loop(self._close_listener)

    def clear_fault(self) -> None:
        self.set_fault(Fault.NONE)

    # --- the register image ----------------------------------------------------------------------------------

    def set_values(self, values: Mapping[str, PointValue]) -> None:
        """Set points by name, encoded with the map's word order; CodecError leaves the image unchanged."""
        encoded = encode_map_values(self.register_map, values)
        with self._lock:
            for table, words in encoded.items():
                self._image[table].update(words)

    def set_value(self, name: str, value: PointValue) -> None:
        self.set_values({name: value})

    def value(self, name: str) -> PointValue:
        """The point's current value in the image: what the simulator set or a master last wrote."""
        point = self.register_map.point(name)
        with self._lock:
            table = self._image[point.table]
            words = [table.get(address, 0) for address in range(point.address, point.end)]
        return decode(point, words, self.register_map.word_order)

    def writes(self) -> tuple[MasterWrite, ...]:
        """Every write masters made since start, oldest first (refused writes are not recorded)."""
        with self._lock:
            return tuple(self._writes)

    # --- the pymodbus action hook (runs in the server's loop) ------------------------------------------------

    async def _on_request(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.before_answer is not None:
            self.before_answer()
        with self._lock:
            fault, late_s = self._fault, self._late_s
        if fault is Fault.LATE:
            await asyncio.sleep(late_s)
        with self._lock:
            return self._answer(function_code, start_address, address, registers, set_values)

    def _answer(
        self,
        function_code: int,
        start_address: int,
        address: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self._fault is Fault.EXCEPTION:
            return self._exception_code
        table = _TABLE_OF_FUNCTION.get(function_code)
        if table is None or (self.register_map.write_multiple_only and function_code in _SINGLE_WRITES):
            return ExcCodes.ILLEGAL_FUNCTION
        if address not in self._addresses[table]:  # bit reads pass no bit count, so only the start is checked
            return ExcCodes.ILLEGAL_ADDRESS
        served = self._frozen_image if self._frozen_image is not None else self._image
        self._fill(table, served[table], start_address, registers)
        if set_values:
            written = [int(v) for v in set_values]
            if any(a not in self._writable[table] for a in range(address, address + len(written))):
                return ExcCodes.ILLEGAL_ADDRESS
            self._image[table].update(zip(range(address, address + len(written)), written, strict=True))
            self._writes.append(MasterWrite(function_code, table, address, tuple(written)))
        return None

    @staticmethod
    def _fill(table: Table, image: Mapping[int, int], start_address: int, registers: list[int]) -> None:
        """Copy the image into pymodbus's registers for this table (``start_address`` in registers)."""
        for index in range(len(registers)):
            word_address = start_address + index
            if not table.holds_bits:
                registers[index] = image.get(word_address, 0)
                continue
            first_bit = word_address * _BITS_PER_WORD
            registers[index] = sum(image.get(first_bit + bit, 0) << bit for bit in range(_BITS_PER_WORD))


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, for callers that must know it before starting a simulator."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
