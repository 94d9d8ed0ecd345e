"""The Modbus simulators seen from a master that is not our code: pymodbus's own client over real loopback TCP.

Registers are decoded here by hand with struct, from the addresses and layouts the catalogue documents
(not with devices.codec), so these tests check the documented map independently of the codec the
simulators encode with.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from devices.registers import WordOrder
from simulators.modbus_device import Fault, free_tcp_port
from simulators.modbus_models import (
    DoorControllerSimulator,
    LedBoardSimulator,
    ModbusModelSimulator,
    PeopleCounterSimulator,
    serve_model,
)

TIMEOUT_S = 0.3  # the master's reply timeout; LATE replies come well after it


@contextmanager
def master(port: int, timeout_s: float = TIMEOUT_S) -> Iterator[ModbusTcpClient]:
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=timeout_s, retries=0)
    assert client.connect(), f"no Modbus TCP server on 127.0.0.1:{port}"
    try:
        yield client
    finally:
        client.close()


def ok(response: ModbusPDU) -> ModbusPDU:
    assert not response.isError(), response
    return response


def words_to_bytes(words: Sequence[int]) -> bytes:
    return struct.pack(f">{len(words)}H", *words)


def counters_of(client: ModbusTcpClient) -> tuple[int, ...]:
    """Holding registers 40001-40008 as four big-endian-word uint32 counters (the BIG map)."""
    registers = ok(client.read_holding_registers(0, count=8)).registers
    return struct.unpack(">4I", words_to_bytes(registers))


# --- people counter ------------------------------------------------------------------------------------------


def test_people_counter_serves_counters_status_and_uptime_at_documented_registers() -> None:
    with PeopleCounterSimulator(seed=1) as simulator, master(simulator.port) as client:
        simulator.cross("channel_1_in", 70_000)
        simulator.cross("channel_2_out", 3)
        registers = ok(client.read_holding_registers(0, count=11)).registers
    # 40001-40008 four uint32 counters, 40009 status, 40010-40011 uptime; high word first.
    ch1_in, ch1_out, ch2_in, ch2_out, status, uptime = struct.unpack(">4IHI", words_to_bytes(registers))
    assert (ch1_in, ch1_out, ch2_in, ch2_out) == (70_000, 0, 0, 3)
    assert status == 0
    assert uptime == 0


def test_people_counter_in_little_word_order_puts_the_low_word_first() -> None:
    with PeopleCounterSimulator(seed=1, word_order=WordOrder.LITTLE, start_count=0x1234_5678) as simulator:
        simulator.cross("channel_1_in", 1)
        with master(simulator.port) as client:
            low, high = ok(client.read_holding_registers(0, count=2)).registers
    assert (low, high) == (0x5679, 0x1234)
    assert (high << 16) | low == 0x1234_5679


def test_people_counter_wraps_at_two_to_the_32() -> None:
    with PeopleCounterSimulator(seed=1, start_count=2**32 - 3) as simulator, master(simulator.port) as client:
        assert counters_of(client)[0] == 2**32 - 3
        simulator.cross("channel_1_in", 5)
        assert counters_of(client) == (2, 2**32 - 3, 2**32 - 3, 2**32 - 3)


def test_people_counter_with_the_same_seed_produces_the_same_sequence() -> None:
    def sequence(seed: int) -> list[tuple[int, ...]]:
        with PeopleCounterSimulator(seed=seed) as simulator, master(simulator.port) as client:
            seen = []
            for _ in range(8):
                simulator.advance(3)
                uptime_words = ok(client.read_holding_registers(9, count=2)).registers
                seen.append((*counters_of(client), *struct.unpack(">I", words_to_bytes(uptime_words))))
            return seen

    first = sequence(42)
    assert first == sequence(42)
    assert sum(first[-1][:4]) == 24  # every crossing counted once
    assert first != sequence(43)


def test_people_counter_refuses_writes_to_its_read_only_counters_and_reads_of_unmapped_registers() -> None:
    with PeopleCounterSimulator(seed=1) as simulator, master(simulator.port) as client:
        written = client.write_registers(0, [0, 9])
        unmapped = client.read_holding_registers(11, count=1)
        assert counters_of(client)[0] == 0
    assert written.isError()
    assert written.exception_code == 0x02
    assert unmapped.isError()
    assert unmapped.exception_code == 0x02


# --- door controller -----------------------------------------------------------------------------------------


def test_door_controller_serves_card_reads_and_door_inputs_at_documented_addresses() -> None:
    with DoorControllerSimulator() as simulator, master(simulator.port) as client:
        simulator.badge(0x00AB_CDEF)
        simulator.badge(0x0012_3456)
        simulator.set_door_closed(False)
        simulator.set_exit_requested(True)
        input_registers = ok(client.read_input_registers(0, count=3)).registers
        door_closed, exit_requested = ok(client.read_discrete_inputs(0, count=2)).bits[:2]
    # 30001-30002 last card (uint32, high word first), 30003 event counter; 10001 door contact, 10002 exit button.
    assert struct.unpack(">IH", words_to_bytes(input_registers)) == (0x0012_3456, 2)
    assert (door_closed, exit_requested) == (False, True)


def test_door_controller_strike_coil_follows_single_coil_writes() -> None:
    with DoorControllerSimulator() as simulator, master(simulator.port) as client:
        assert ok(client.read_coils(0, count=1)).bits[0] is False
        ok(client.write_coil(0, True))
        assert simulator.strike_released is True
        assert ok(client.read_coils(0, count=1)).bits[0] is True
        ok(client.write_coil(0, False))
        assert simulator.strike_released is False
        assert [(w.function_code, w.address, w.values) for w in simulator.device.writes()] == [
            (5, 0, (1,)),
            (5, 0, (0,)),
        ]


# --- LED board -----------------------------------------------------------------------------------------------


def test_led_board_shows_text_number_and_counter_written_with_fc16() -> None:
    text_words = list(struct.unpack(">10H", b"A017 -> 3".ljust(20)))
    with LedBoardSimulator() as simulator, master(simulator.port) as client:
        ok(client.write_registers(0, text_words))
        ok(client.write_registers(10, [struct.unpack(">H", struct.pack(">h", -5))[0]]))
        ok(client.write_registers(14, list(struct.unpack(">2H", struct.pack(">I", 123_456_789)))))
        read_back = ok(client.read_holding_registers(0, count=10)).registers
        assert (simulator.text, simulator.number, simulator.counter) == ("A017 -> 3", -5, 123_456_789)
        assert simulator.writes()[0].function_code == 16
        assert simulator.writes()[0].values == tuple(text_words)
    assert words_to_bytes(read_back).decode("ascii").rstrip() == "A017 -> 3"


def test_led_board_refuses_single_register_writes() -> None:
    with LedBoardSimulator() as simulator, master(simulator.port) as client:
        refused = client.write_register(10, 5)
        assert simulator.number == 0
        assert simulator.writes() == ()
    assert refused.isError()
    assert refused.exception_code == 0x01


# --- fault modes, for every model ----------------------------------------------------------------------------

ReadFirstPoint = Callable[[ModbusTcpClient], ModbusPDU]
MODELS: list[tuple[str, Callable[[], ModbusModelSimulator], ReadFirstPoint]] = [
    ("people-counter", lambda: PeopleCounterSimulator(seed=7), lambda c: c.read_holding_registers(0, count=2)),
    ("door-controller", DoorControllerSimulator, lambda c: c.read_input_registers(0, count=3)),
    ("led-board", LedBoardSimulator, lambda c: c.read_holding_registers(0, count=10)),
]
MODEL_IDS = [name for name, _, _ in MODELS]


@pytest.mark.parametrize(("name", "build", "read"), MODELS, ids=MODEL_IDS)
def test_offline_device_refuses_connections_until_it_recovers(
    name: str, build: Callable[[], ModbusModelSimulator], read: ReadFirstPoint
) -> None:
    with build() as simulator:
        with master(simulator.port) as client:
            ok(read(client))
            simulator.device.set_fault(Fault.OFFLINE)
            with pytest.raises(ModbusException):
                read(client)
        refused = ModbusTcpClient("127.0.0.1", port=simulator.port, timeout=TIMEOUT_S, retries=0)
        assert refused.connect() is False, f"{name} still accepts connections while offline"
        refused.close()
        simulator.device.clear_fault()
        with master(simulator.port) as client:
            ok(read(client))


@pytest.mark.parametrize(("name", "build", "read"), MODELS, ids=MODEL_IDS)
def test_late_device_replies_after_the_master_timed_out(
    name: str, build: Callable[[], ModbusModelSimulator], read: ReadFirstPoint
) -> None:
    with build() as simulator:
        simulator.device.set_fault(Fault.LATE, late_s=TIMEOUT_S * 4)
        with master(simulator.port) as client, pytest.raises(ModbusIOException):
            read(client)
        simulator.device.clear_fault()
        with master(simulator.port) as client:
            ok(read(client))


@pytest.mark.parametrize("code", [0x04, 0x0B])
@pytest.mark.parametrize(("name", "build", "read"), MODELS, ids=MODEL_IDS)
def test_faulty_device_answers_with_the_chosen_exception_code(
    name: str, build: Callable[[], ModbusModelSimulator], read: ReadFirstPoint, code: int
) -> None:
    with build() as simulator, master(simulator.port) as client:
        simulator.device.set_fault(Fault.EXCEPTION, exception_code=code)
        response = read(client)
        assert response.isError()
        assert response.exception_code == code
        simulator.device.clear_fault()
        ok(read(client))


def test_frozen_people_counter_keeps_serving_the_same_counts_while_people_cross() -> None:
    with PeopleCounterSimulator(seed=3) as simulator, master(simulator.port) as client:
        simulator.advance(4)
        before = counters_of(client)
        simulator.device.set_fault(Fault.FROZEN)
        simulator.advance(10)
        assert counters_of(client) == before
        simulator.device.clear_fault()
        assert sum(counters_of(client)) == sum(before) + 10


def test_frozen_door_controller_hides_new_badge_reads() -> None:
    with DoorControllerSimulator() as simulator, master(simulator.port) as client:
        simulator.badge(1001)
        simulator.device.set_fault(Fault.FROZEN)
        simulator.badge(1002)
        assert ok(client.read_input_registers(0, count=3)).registers == [0, 1001, 1]
        simulator.device.clear_fault()
        assert ok(client.read_input_registers(0, count=3)).registers == [0, 1002, 2]


def test_a_model_runs_alone_until_told_to_stop() -> None:
    port = free_tcp_port()
    stop = threading.Event()
    runner = threading.Thread(
        target=serve_model,
        args=("modbus-people-counter",),
        kwargs={"seed": 5, "host": "127.0.0.1", "port": port, "stop": stop},
    )
    runner.start()
    try:
        deadline = time.monotonic() + 5
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=TIMEOUT_S, retries=0)
        while not client.connect():
            assert time.monotonic() < deadline, "the simulator never listened"
            time.sleep(0.05)
        try:
            assert len(counters_of(client)) == 4
        finally:
            client.close()
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()
