"""Planning Modbus writes from named values: one request per contiguous run, in the map's word order."""

from __future__ import annotations

import pytest

from devices.catalogue import DOOR_CONTROLLER, LED_BOARD, people_counter_map
from devices.codec import CodecError
from devices.registers import DataType, Point, RegisterMap, Table, WordOrder
from edge.modbus_reader import point_writes

SETPOINTS = RegisterMap(
    model="test-setpoints",
    word_order=WordOrder.LITTLE,
    points=(
        Point("target", Table.HOLDING_REGISTER, 0, DataType.UINT32, writable=True),
        Point("mode", Table.HOLDING_REGISTER, 2, DataType.UINT16, writable=True),
        Point("limit", Table.HOLDING_REGISTER, 5, DataType.INT16, writable=True),
        Point("relay", Table.COIL, 3, DataType.BOOL, writable=True),
    ),
)


def test_the_led_text_is_one_fc16_request_of_ten_space_padded_registers() -> None:
    [(table, start, words)] = point_writes(LED_BOARD, {"text": "A017"})
    assert (table, start) == (Table.HOLDING_REGISTER, 0)
    assert words == [0x4130, 0x3137] + [0x2020] * 8


def test_the_strike_coil_is_one_bit() -> None:
    assert point_writes(DOOR_CONTROLLER, {"strike_released": True}) == [(Table.COIL, 0, [1])]


def test_neighbouring_points_share_a_request_and_gaps_split_it_in_the_maps_word_order() -> None:
    writes = point_writes(SETPOINTS, {"limit": -1, "mode": 7, "target": 0x0001_0002, "relay": False})
    assert writes == [
        (Table.COIL, 3, [0]),
        (Table.HOLDING_REGISTER, 0, [0x0002, 0x0001, 7]),  # low word first
        (Table.HOLDING_REGISTER, 5, [0xFFFF]),
    ]


def test_read_only_points_are_never_written() -> None:
    with pytest.raises(ValueError, match="channel_1_in cannot be written"):
        point_writes(people_counter_map(), {"channel_1_in": 0})


@pytest.mark.parametrize("values", [{"nope": 1}, {"text": "x" * 21}, {"text": "caf\u00e9"}])
def test_unknown_names_and_values_a_point_cannot_carry_are_codec_errors(values: dict[str, object]) -> None:
    with pytest.raises(CodecError):
        point_writes(LED_BOARD, values)  # type: ignore[arg-type]
