"""The Modbus device catalogue: every model is a valid map at the documented addresses of the product it mirrors."""

from __future__ import annotations

import pytest

from devices.catalogue import (
    DOOR_CONTROLLER,
    LED_BOARD,
    MODBUS_MODELS,
    PEOPLE_COUNTER,
    people_counter_map,
)
from devices.codec import decode_block, encode, encode_map_values
from devices.registers import (
    DataType,
    ReadBlock,
    RegisterMap,
    Table,
    WordOrder,
    pdu_address_from_reference,
)

HOLDING = Table.HOLDING_REGISTER


def test_catalogue_lists_each_model_under_its_name() -> None:
    assert set(MODBUS_MODELS) == {"modbus-people-counter", "modbus-door-controller", "ditel-led-board"}
    assert all(register_map.model == name for name, register_map in MODBUS_MODELS.items())


@pytest.mark.parametrize("register_map", list(MODBUS_MODELS.values()), ids=lambda m: m.model)
def test_catalogue_maps_survive_revalidation(register_map: RegisterMap) -> None:
    rebuilt = RegisterMap(
        register_map.model,
        register_map.word_order,
        register_map.points,
        register_map.read_gap,
        register_map.write_multiple_only,
    )
    assert rebuilt == register_map
    assert all(point.description for point in register_map.points)


@pytest.mark.parametrize(
    ("register_map", "name", "reference", "data_type"),
    [
        (PEOPLE_COUNTER, "channel_1_in", "40001", DataType.UINT32),
        (PEOPLE_COUNTER, "channel_1_out", "40003", DataType.UINT32),
        (PEOPLE_COUNTER, "channel_2_in", "40005", DataType.UINT32),
        (PEOPLE_COUNTER, "channel_2_out", "40007", DataType.UINT32),
        (PEOPLE_COUNTER, "status", "40009", DataType.UINT16),
        (PEOPLE_COUNTER, "uptime", "40010", DataType.UINT32),
        (DOOR_CONTROLLER, "last_card", "30001", DataType.UINT32),
        (DOOR_CONTROLLER, "card_events", "30003", DataType.UINT16),
        (DOOR_CONTROLLER, "door_closed", "10001", DataType.BOOL),
        (DOOR_CONTROLLER, "exit_requested", "10002", DataType.BOOL),
        (DOOR_CONTROLLER, "strike_released", "00001", DataType.BOOL),
        (LED_BOARD, "text", "40001", DataType.ASCII),
        (LED_BOARD, "number", "40011", DataType.INT16),
        (LED_BOARD, "counter", "40015", DataType.UINT32),
    ],
    ids=lambda value: value if isinstance(value, str) and not value.isdigit() else None,
)
def test_points_sit_at_their_documented_reference(
    register_map: RegisterMap, name: str, reference: str, data_type: DataType
) -> None:
    point = register_map.point(name)
    assert (point.table, point.address) == pdu_address_from_reference(reference)
    assert point.data_type is data_type


def test_people_counter_word_order_is_chosen_per_device() -> None:
    little = people_counter_map(WordOrder.LITTLE)
    assert little.word_order is WordOrder.LITTLE
    assert PEOPLE_COUNTER.word_order is WordOrder.BIG
    assert little.points == PEOPLE_COUNTER.points
    image = encode_map_values(little, {"channel_1_in": 0x0001_0002})
    assert image[HOLDING] == {0: 0x0002, 1: 0x0001}


def test_people_counter_is_read_in_one_request() -> None:
    assert PEOPLE_COUNTER.blocks(HOLDING) == (ReadBlock(0, 11),)
    words = [0] * 11
    words[0:2] = encode(PEOPLE_COUNTER.point("channel_1_in"), 123456, WordOrder.BIG)
    values = decode_block(PEOPLE_COUNTER, HOLDING, 0, words)
    assert values["channel_1_in"] == 123456
    assert set(values) == {p.name for p in PEOPLE_COUNTER.points}


def test_door_controller_strike_is_the_only_writable_point() -> None:
    assert [p.name for p in DOOR_CONTROLLER.points if p.writable] == ["strike_released"]
    assert DOOR_CONTROLLER.blocks(Table.DISCRETE_INPUT) == (ReadBlock(0, 2),)
    assert DOOR_CONTROLLER.blocks(Table.INPUT_REGISTER) == (ReadBlock(0, 3),)


def test_led_board_is_written_with_fc16_and_holds_twenty_characters() -> None:
    assert LED_BOARD.write_multiple_only
    assert all(point.writable for point in LED_BOARD.points)
    text = LED_BOARD.point("text")
    assert text.count == 10
    assert encode(text, "A017 -> window 3", WordOrder.BIG)[:2] == (0x4130, 0x3137)
    image = encode_map_values(LED_BOARD, {"text": "x" * 20, "number": -42, "counter": 2**32 - 1})
    assert sorted(image[HOLDING]) == [*range(11), 14, 15]
    assert image[HOLDING][10] == 0xFFD6
