"""Register maps: the data-type vocabulary, Modicon references, map validation and read-block planning."""

from __future__ import annotations

import pytest

from devices.errors import WireError
from devices.registers import (
    MAX_REGISTERS_PER_READ,
    DataType,
    Point,
    ReadBlock,
    RegisterMap,
    RegisterMapError,
    Table,
    WordOrder,
    pdu_address_from_reference,
)

HOLDING = Table.HOLDING_REGISTER


def make_map(*points: Point, read_gap: int = 0) -> RegisterMap:
    return RegisterMap(model="test-model", word_order=WordOrder.BIG, points=points, read_gap=read_gap)


@pytest.mark.parametrize(
    ("data_type", "count"),
    [
        (DataType.BOOL, 1),
        (DataType.UINT16, 1),
        (DataType.INT16, 1),
        (DataType.UINT32, 2),
        (DataType.INT32, 2),
        (DataType.FLOAT32, 2),
        (DataType.ASCII, None),
    ],
    ids=str,
)
def test_each_data_type_declares_its_register_count(data_type: DataType, count: int | None) -> None:
    assert data_type.fixed_count == count


def test_point_derives_its_count_from_a_fixed_size_type() -> None:
    point = Point("total", HOLDING, 4, DataType.UINT32)
    assert point.count == 2
    assert point.end == 6


@pytest.mark.parametrize(
    ("reference", "table", "address"),
    [
        ("40001", Table.HOLDING_REGISTER, 0),
        ("40015", Table.HOLDING_REGISTER, 14),
        ("30001", Table.INPUT_REGISTER, 0),
        ("10002", Table.DISCRETE_INPUT, 1),
        ("00017", Table.COIL, 16),
        ("409999", Table.HOLDING_REGISTER, 9998),
        ("465536", Table.HOLDING_REGISTER, 65535),
    ],
    ids=lambda value: str(value),
)
def test_modicon_reference_converts_to_table_and_zero_based_address(reference: str, table: Table, address: int) -> None:
    assert pdu_address_from_reference(reference) == (table, address)


@pytest.mark.parametrize("reference", ["4001", "40000", "465537", "20001", "4000a", "4000\uff11"], ids=str)
def test_malformed_modicon_reference_is_refused(reference: str) -> None:
    with pytest.raises(ValueError, match="Modbus reference"):
        pdu_address_from_reference(reference)


INVALID_POINTS = [
    pytest.param(Point("text", HOLDING, 0, DataType.ASCII), "at least 1 register", id="ascii-without-count"),
    pytest.param(Point("total", HOLDING, 0, DataType.UINT32, count=1), "takes 2 register", id="count-mismatch"),
    pytest.param(
        Point("text", HOLDING, 0, DataType.ASCII, count=MAX_REGISTERS_PER_READ + 1), "one request", id="too-long"
    ),
    pytest.param(Point("flag", HOLDING, 0, DataType.BOOL), "cannot live in the holding", id="bit-in-registers"),
    pytest.param(Point("level", Table.COIL, 0, DataType.UINT16), "cannot live in the coil", id="register-in-coils"),
    pytest.param(Point("total", HOLDING, 65535, DataType.UINT32), "outside 0..65535", id="past-last-address"),
    pytest.param(Point("total", HOLDING, -1, DataType.UINT16), "outside 0..65535", id="negative-address"),
    pytest.param(
        Point("level", Table.INPUT_REGISTER, 0, DataType.UINT16, writable=True), "read-only", id="writable-input"
    ),
    pytest.param(
        Point("door", Table.DISCRETE_INPUT, 0, DataType.BOOL, writable=True), "read-only", id="writable-discrete"
    ),
    pytest.param(Point("level", HOLDING, 0, DataType.UINT16, scale=0), "nonzero", id="zero-scale"),
    pytest.param(Point("level", HOLDING, 0, DataType.UINT16, scale=float("nan")), "nonzero", id="nan-scale"),
    pytest.param(Point("level", HOLDING, 0, DataType.UINT16, scale=float("inf")), "finite", id="infinite-scale"),
    pytest.param(Point("text", HOLDING, 0, DataType.ASCII, count=2, scale=2), "cannot be scaled", id="scaled-text"),
]


@pytest.mark.parametrize(("point", "problem"), INVALID_POINTS)
def test_invalid_point_is_refused_naming_map_and_point(point: Point, problem: str) -> None:
    with pytest.raises(RegisterMapError, match=problem) as caught:
        make_map(Point("fine", HOLDING, 100, DataType.UINT16), point)
    assert f"'test-model': point {point.name!r}" in str(caught.value)


def test_register_map_error_is_a_wire_error_and_a_value_error() -> None:
    assert issubclass(RegisterMapError, WireError)
    assert issubclass(RegisterMapError, ValueError)


def test_duplicate_point_name_is_refused() -> None:
    with pytest.raises(RegisterMapError, match="point 'total' is defined twice"):
        make_map(Point("total", HOLDING, 0, DataType.UINT16), Point("total", HOLDING, 5, DataType.UINT16))


def test_overlapping_points_of_one_table_are_refused_naming_both() -> None:
    with pytest.raises(RegisterMapError, match="point 'low' at holding_register 1 overlaps point 'total'"):
        make_map(Point("total", HOLDING, 0, DataType.UINT32), Point("low", HOLDING, 1, DataType.UINT16))


def test_same_address_in_different_tables_does_not_overlap() -> None:
    register_map = make_map(
        Point("level", HOLDING, 0, DataType.UINT16),
        Point("reading", Table.INPUT_REGISTER, 0, DataType.UINT16),
        Point("relay", Table.COIL, 0, DataType.BOOL, writable=True),
        Point("contact", Table.DISCRETE_INPUT, 0, DataType.BOOL),
    )
    assert [p.name for p in register_map.points_in(Table.COIL)] == ["relay"]


def test_negative_read_gap_is_refused() -> None:
    with pytest.raises(RegisterMapError, match="read_gap -1"):
        make_map(Point("level", HOLDING, 0, DataType.UINT16), read_gap=-1)


def test_point_lookup_by_name_and_unknown_name() -> None:
    level = Point("level", HOLDING, 3, DataType.UINT16)
    register_map = make_map(level)
    assert register_map.point("level") is level
    with pytest.raises(KeyError, match="has no point 'missing'"):
        register_map.point("missing")


def test_points_given_as_a_list_are_stored_as_a_tuple() -> None:
    register_map = RegisterMap("test-model", WordOrder.LITTLE, [Point("a", HOLDING, 0, DataType.UINT16)])  # type: ignore[arg-type]
    assert isinstance(register_map.points, tuple)


SPREAD = (
    Point("c", HOLDING, 10, DataType.UINT16),
    Point("a", HOLDING, 0, DataType.UINT32),
    Point("b", HOLDING, 2, DataType.INT16),
    Point("d", HOLDING, 14, DataType.UINT32),
    Point("e", HOLDING, 40, DataType.FLOAT32),
)


@pytest.mark.parametrize(
    ("read_gap", "blocks"),
    [
        (0, (ReadBlock(0, 3), ReadBlock(10, 1), ReadBlock(14, 2), ReadBlock(40, 2))),
        (3, (ReadBlock(0, 3), ReadBlock(10, 6), ReadBlock(40, 2))),
        (7, (ReadBlock(0, 16), ReadBlock(40, 2))),
        (24, (ReadBlock(0, 42),)),
    ],
    ids=["gap-0", "gap-3", "gap-7", "gap-24"],
)
def test_blocks_merge_neighbours_within_the_read_gap(read_gap: int, blocks: tuple[ReadBlock, ...]) -> None:
    assert make_map(*SPREAD).blocks(HOLDING, read_gap=read_gap) == blocks


def test_blocks_default_to_the_maps_read_gap() -> None:
    assert make_map(*SPREAD, read_gap=3).blocks(HOLDING) == (ReadBlock(0, 3), ReadBlock(10, 6), ReadBlock(40, 2))


def test_blocks_never_exceed_one_requests_register_limit() -> None:
    points = [Point(f"text_{i}", HOLDING, i * 50, DataType.ASCII, count=50) for i in range(4)]
    blocks = make_map(*points).blocks(HOLDING)
    assert blocks == (ReadBlock(0, 100), ReadBlock(100, 100))
    assert all(block.count <= MAX_REGISTERS_PER_READ for block in blocks)


def test_blocks_of_a_table_without_points_is_empty() -> None:
    assert make_map(*SPREAD).blocks(Table.COIL) == ()


def test_bit_blocks_cover_every_bit() -> None:
    register_map = make_map(
        Point("contact", Table.DISCRETE_INPUT, 0, DataType.BOOL),
        Point("exit", Table.DISCRETE_INPUT, 1, DataType.BOOL),
        Point("tamper", Table.DISCRETE_INPUT, 7, DataType.BOOL),
    )
    assert register_map.blocks(Table.DISCRETE_INPUT) == (ReadBlock(0, 2), ReadBlock(7, 1))
