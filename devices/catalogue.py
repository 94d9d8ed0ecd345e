"""Register maps of our Modbus TCP device models, as validated data; edge pollers and simulators both read these.

Each map mirrors a real product family (see shared/research/ecosystem.md section 2) closely enough that a
driver written against it meets the same layout quirks in the field: 32-bit counters over two registers in
either word order, bits in coils and discrete inputs, ASCII text two characters per register written with FC16.
Addresses are 0-based PDU addresses; the datasheet's 1-based "4xxxx" reference is given beside each map.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from devices.registers import DataType, Point, RegisterMap, Table, WordOrder

PEOPLE_COUNTER_MODEL = "modbus-people-counter"
DOOR_CONTROLLER_MODEL = "modbus-door-controller"
LED_BOARD_MODEL = "ditel-led-board"

_HOLDING = Table.HOLDING_REGISTER
_INPUT = Table.INPUT_REGISTER


def _counter(name: str, address: int, description: str) -> Point:
    return Point(name, _HOLDING, address, DataType.UINT32, unit="people", description=description)


def people_counter_map(word_order: WordOrder = WordOrder.BIG) -> RegisterMap:
    """A people-counting IO/counter gateway: two beam or sensor channels, each with in and out counters.

    Mirrors Advantech ADAM-6000/4000 counter modules (32-bit counters as register pairs from 40001),
    Banner DX80 (32-bit counters split high/low) and HARDWARIO Gauger (per-input activation counts read
    with FC03). Counters are free-running, unsigned and wrap at 2**32 (see :mod:`devices.counters`); the word
    order is a setting of the real modules, so it is chosen per device instance.

    Holding registers (FC03): 40001-40002 ch1 in, 40003-40004 ch1 out, 40005-40006 ch2 in, 40007-40008 ch2 out,
    40009 status, 40010-40011 uptime.
    """
    return RegisterMap(
        model=PEOPLE_COUNTER_MODEL,
        word_order=word_order,
        points=(
            _counter("channel_1_in", 0, "people who crossed channel 1 inwards since power-up"),
            _counter("channel_1_out", 2, "people who crossed channel 1 outwards since power-up"),
            _counter("channel_2_in", 4, "people who crossed channel 2 inwards since power-up"),
            _counter("channel_2_out", 6, "people who crossed channel 2 outwards since power-up"),
            Point("status", _HOLDING, 8, DataType.UINT16, description="0 = healthy; nonzero = device fault code"),
            Point("uptime", _HOLDING, 9, DataType.UINT32, unit="s", description="seconds since power-up"),
        ),
    )


PEOPLE_COUNTER = people_counter_map(WordOrder.BIG)

# A Wiegand/OSDP card reader bridged to an IO module: ADAM-6050/6052-style discrete inputs for the door
# contact and request-to-exit button, a relay coil for the strike, and the bridge's last card in input registers.
# Input registers (FC04): 30001-30002 last card, 30003 event counter. Discrete inputs (FC02): 10001 door
# contact, 10002 request-to-exit. Coil (FC01/FC05): 00001 strike relay.
DOOR_CONTROLLER = RegisterMap(
    model=DOOR_CONTROLLER_MODEL,
    word_order=WordOrder.BIG,
    points=(
        Point("last_card", _INPUT, 0, DataType.UINT32, description="card number of the latest badge read"),
        Point(
            "card_events",
            _INPUT,
            2,
            DataType.UINT16,
            unit="reads",
            description="badge reads since power-up, wraps at 2**16; a change means a new read of last_card",
        ),
        Point("door_closed", Table.DISCRETE_INPUT, 0, DataType.BOOL, description="door contact: True = closed"),
        Point("exit_requested", Table.DISCRETE_INPUT, 1, DataType.BOOL, description="request-to-exit button pressed"),
        Point(
            "strike_released",
            Table.COIL,
            0,
            DataType.BOOL,
            writable=True,
            description="strike relay: True = energised, door unlocked",
        ),
    ),
)

# Ditel DN109/DN119/DN189 large LED displays, Modbus/TCP (Ditel DN109/NB manual, ch. 24): registers 0-9 are
# the text, two ASCII characters per register; register 10 a signed number; registers 14-15 an unsigned 32-bit
# number; the display takes FC16 writes only. Registers 11-13 (decimal point, colour, brightness) are not mapped.
# Holding registers: 40001-40010 text, 40011 number, 40015-40016 counter.
LED_BOARD = RegisterMap(
    model=LED_BOARD_MODEL,
    word_order=WordOrder.BIG,
    write_multiple_only=True,
    points=(
        Point(
            "text",
            _HOLDING,
            0,
            DataType.ASCII,
            count=10,
            writable=True,
            description="up to 20 ASCII characters, space padded, e.g. a ticket call 'A017 -> 3'",
        ),
        Point("number", _HOLDING, 10, DataType.INT16, writable=True, description="signed number shown"),
        Point("counter", _HOLDING, 14, DataType.UINT32, writable=True, description="unsigned 32-bit number"),
    ),
)

MODBUS_MODELS: Mapping[str, RegisterMap] = MappingProxyType(
    {m.model: m for m in (PEOPLE_COUNTER, DOOR_CONTROLLER, LED_BOARD)}
)
