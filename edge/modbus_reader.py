"""Reading registers from a Modbus TCP device: the transport the poller is given, and its pymodbus implementation.

:class:`PymodbusReader` holds one asyncio.Lock per connection (a Modbus TCP device answers one request at a time,
and a reply must never be matched to the wrong request), bounds connect and every request by ``timeout_s``, and
after a timeout closes the connection instead of reusing it: a late reply would otherwise be read as the answer to
the next request (pymodbus#538). Reconnects back off exponentially with jitter (:class:`Backoff`).

Exceptions: ``PollError`` ├── ``DeviceUnreachable`` (no connection, timeout, backoff running)
                        └── ``DeviceFault`` (a Modbus exception response; ``.code``)
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from devices.registers import ReadBlock, Table

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


class PymodbusReader:
    """A :class:`RegisterReader` over one Modbus TCP connection, reconnecting with backoff (see module doc)."""

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
                # Closed rather than reused: a reply arriving after the timeout would answer the next request.
                self._drop_connection()
                why = f"no reply within {self._timeout_s} s" if isinstance(exc, TimeoutError) else str(exc)
                raise DeviceUnreachable(f"{self.host}:{self.port}: {why}") from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise DeviceFault(code, f"{self.host}:{self.port} refused {table} {block.start}+{block.count}")
        words = response.bits if table.holds_bits else response.registers
        if len(words) < block.count:
            raise DeviceFault(0, f"{self.host}:{self.port} sent {len(words)} of {block.count} {table} values")
        self._backoff.succeeded()
        return tuple(int(word) for word in words[: block.count])

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
