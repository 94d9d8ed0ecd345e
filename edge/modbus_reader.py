"""Reading and writing a Modbus TCP device: the transport the poller and the device adapters are given, and its
pymodbus implementation.

:class:`PymodbusReader` holds one asyncio.Lock per connection (a Modbus TCP device answers one request at a time,
and a reply must never be matched to the wrong request), bounds connect and every request by ``timeout_s``, and
after a timeout closes the connection instead of reusing it: a late reply would otherwise be read as the answer to
the next request (pymodbus#538). Reconnects back off exponentially with jitter (:class:`Backoff`). Writes share
the connection, the lock, the timeout and the backoff with the reads: a device sees one master.

Writes (spec 6.5, 6.11, 6.12): one coil with FC05 and several with FC15; holding registers always with FC16, which
every device of our catalogue takes (the Ditel board takes nothing else, ``RegisterMap.write_multiple_only``).
:func:`write_points` encodes named values with :mod:`devices.codec` and writes each contiguous run in one request.
A write that timed out may or may not have reached the device; callers that must undo it do so regardless.

Exceptions: ``PollError`` ├── ``DeviceUnreachable`` (no connection, timeout, backoff running)
                        └── ``DeviceFault`` (a Modbus exception response; ``.code``)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from typing import Protocol

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from devices.codec import PointValue, encode_map_values
from devices.registers import ReadBlock, RegisterMap, Table

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1.0
DEFAULT_BACKOFF_INITIAL_S = 0.5
DEFAULT_BACKOFF_MAX_S = 30.0


class PollError(Exception):
    """Base of the errors a :class:`RegisterReader` raises."""


class DeviceUnreachable(PollError):
    """No answer: connection refused or lost, no reply within the timeout, or waiting out a reconnect backoff."""


class DeviceFault(PollError):
    """The device answered with a Modbus exception response (spec 7: 0x02 illegal address, 0x0B no response...)."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"Modbus exception 0x{code:02X}: {detail}")
        self.code = code


class RegisterReader(Protocol):
    """Reads blocks of one device's tables; raises :class:`DeviceUnreachable` or :class:`DeviceFault`."""

    async def read(self, table: Table, block: ReadBlock, unit: int) -> tuple[int, ...]:
        """``block.count`` words (0/1 for bit tables) from ``block.start`` of ``table`` of Modbus unit ``unit``."""
        ...

    def close(self) -> None: ...


class RegisterClient(RegisterReader, Protocol):
    """A :class:`RegisterReader` that also writes; what device adapters with commands are given.

    A separate protocol so that a poller (and its test doubles) need only read.
    """

    async def write(self, table: Table, start: int, words: Sequence[int], unit: int, *, multiple: bool) -> None:
        """Write ``words`` (0/1 for coils) from ``start`` of a writable ``table``; ``multiple`` forces FC15 for a
        single coil (devices that refuse FC05). Raises :class:`DeviceUnreachable` or :class:`DeviceFault`."""
        ...


class Backoff:
    """Exponential reconnect delays with jitter: ``initial_s`` doubling per failure up to ``max_s``.

    Each delay is drawn from [50 %, 100 %] of the nominal one, so agents restarted together do not reconnect in
    lockstep to a gateway that just came back.
    """

    def __init__(self, initial_s: float, max_s: float, rng: random.Random) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"backoff needs 0 < initial_s ({initial_s}) <= max_s ({max_s})")
        self._initial_s = initial_s
        self._max_s = max_s
        self._rng = rng
        self._failures = 0

    def next_delay(self) -> float:
        nominal = min(self._max_s, self._initial_s * 2.0 ** min(self._failures, 62))
        self._failures += 1
        return nominal * self._rng.uniform(0.5, 1.0)

    def succeeded(self) -> None:
        self._failures = 0


async def _read_request(client: AsyncModbusTcpClient, table: Table, block: ReadBlock, unit: int) -> ModbusPDU:
    start, count = block.start, block.count
    match table:
        case Table.COIL:
            return await client.read_coils(start, count=count, device_id=unit)
        case Table.DISCRETE_INPUT:
            return await client.read_discrete_inputs(start, count=count, device_id=unit)
        case Table.HOLDING_REGISTER:
            return await client.read_holding_registers(start, count=count, device_id=unit)
        case Table.INPUT_REGISTER:
            return await client.read_input_registers(start, count=count, device_id=unit)


async def _write_request(
    client: AsyncModbusTcpClient, table: Table, start: int, words: Sequence[int], unit: int, multiple: bool
) -> ModbusPDU:
    if table is Table.COIL:
        if len(words) == 1 and not multiple:
            return await client.write_coil(start, bool(words[0]), device_id=unit)
        return await client.write_coils(start, [bool(word) for word in words], device_id=unit)
    if table is Table.HOLDING_REGISTER:
        return await client.write_registers(start, list(words), device_id=unit)
    raise ValueError(f"the {table} table is read-only")


class PymodbusReader:
    """A :class:`RegisterClient` over one Modbus TCP connection, reconnecting with backoff (see module doc)."""

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        backoff_initial_s: float = DEFAULT_BACKOFF_INITIAL_S,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
        rng: random.Random | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._timeout_s = timeout_s
        self._backoff = Backoff(backoff_initial_s, backoff_max_s, rng or random.Random())
        self._lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | None = None
        self._next_connect_at = 0.0  # event-loop time (monotonic seconds)

    async def read(self, table: Table, block: ReadBlock, unit: int) -> tuple[int, ...]:
        async with self._lock:
            client = await self._connected_client()
            try:
                async with asyncio.timeout(self._timeout_s):
                    response = await _read_request(client, table, block, unit)
            except (TimeoutError, ModbusException) as exc:
                raise self._unreachable(exc) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise DeviceFault(code, f"{self.host}:{self.port} refused {table} {block.start}+{block.count}")
        words = response.bits if table.holds_bits else response.registers
        if len(words) < block.count:
            raise DeviceFault(0, f"{self.host}:{self.port} sent {len(words)} of {block.count} {table} values")
        self._backoff.succeeded()
        return tuple(int(word) for word in words[: block.count])

    async def write(self, table: Table, start: int, words: Sequence[int], unit: int, *, multiple: bool) -> None:
        if not table.writable or not words:
            raise ValueError(f"cannot write {len(words)} values to the {table} table")
        async with self._lock:
            client = await self._connected_client()
            try:
                async with asyncio.timeout(self._timeout_s):
                    response = await _write_request(client, table, start, words, unit, multiple)
            except (TimeoutError, ModbusException) as exc:
                raise self._unreachable(exc) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise DeviceFault(code, f"{self.host}:{self.port} refused a write of {table} {start}+{len(words)}")
        self._backoff.succeeded()

    def _unreachable(self, exc: TimeoutError | ModbusException) -> DeviceUnreachable:
        # Closed rather than reused: a reply arriving after the timeout would answer the next request.
        self._drop_connection()
        why = f"no reply within {self._timeout_s} s" if isinstance(exc, TimeoutError) else str(exc)
        return DeviceUnreachable(f"{self.host}:{self.port}: {why}")

    async def _connected_client(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._drop_connection(schedule=False)
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_connect_at:
            wait_s = self._next_connect_at - loop.time()
            raise DeviceUnreachable(f"{self.host}:{self.port}: reconnecting in {wait_s:.1f} s")
        # A fresh client per connection: no state (buffers, transaction ids) survives from a broken one.
        # retries=0 and reconnect_delay=0: we time out, retry and back off ourselves.
        client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self._timeout_s, retries=0, reconnect_delay=0)
        try:
            async with asyncio.timeout(self._timeout_s):
                connected = await client.connect()
        except TimeoutError:
            connected = False
        if not connected:
            client.close()
            self._schedule_reconnect()
            raise DeviceUnreachable(f"{self.host}:{self.port}: cannot connect")
        self._client = client
        return client

    def _schedule_reconnect(self) -> None:
        self._next_connect_at = asyncio.get_running_loop().time() + self._backoff.next_delay()

    def _drop_connection(self, *, schedule: bool = True) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
            if schedule:
                self._schedule_reconnect()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def point_writes(register_map: RegisterMap, values: Mapping[str, PointValue]) -> list[tuple[Table, int, list[int]]]:
    """The requests that write ``values``: (table, first address, words) per contiguous run, by table and address.

    CodecError (from :mod:`devices.codec`) for an unknown name or a value its point cannot carry; ValueError for a
    point the map does not mark writable, so a typo never writes a counter.
    """
    read_only = sorted(point.name for point in register_map.points if point.name in values and not point.writable)
    if read_only:
        raise ValueError(f"map {register_map.model!r}: {', '.join(read_only)} cannot be written (read-only)")
    requests: list[tuple[Table, int, list[int]]] = []
    for table, image in sorted(encode_map_values(register_map, values).items()):
        for address in sorted(image):
            if requests and requests[-1][0] is table and requests[-1][1] + len(requests[-1][2]) == address:
                requests[-1][2].append(image[address])
            else:
                requests.append((table, address, [image[address]]))
    return requests


async def write_points(
    client: RegisterClient, register_map: RegisterMap, values: Mapping[str, PointValue], unit: int
) -> None:
    """Encode ``values`` with the map's word order and write them, one request per contiguous run (see
    :func:`point_writes`); FC15/FC16 only when the map is ``write_multiple_only``."""
    for table, start, words in point_writes(register_map, values):
        await client.write(table, start, words, unit, multiple=register_map.write_multiple_only)
