"""The shared Modbus codec: spec tables of known words for every type and word order, refusals, round trips."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.codec import CodecError, PointValue, decode, decode_block, encode, encode_map_values
from devices.errors import WireError
from devices.registers import DataType, Point, RegisterMap, Table, WordOrder

HOLDING = Table.HOLDING_REGISTER
BIG = WordOrder.BIG
LITTLE = WordOrder.LITTLE


def point_of(data_type: DataType, *, count: int = 0, scale: float = 1.0) -> Point:
    table = Table.COIL if data_type is DataType.BOOL else HOLDING
    return Point("value", table, 0, data_type, count=count, scale=scale)


# (point, value, word order, words on the wire)
SPEC_TABLE = [
    pytest.param(point_of(DataType.BOOL), True, BIG, (1,), id="bool-true"),
    pytest.param(point_of(DataType.BOOL), False, BIG, (0,), id="bool-false"),
    pytest.param(point_of(DataType.UINT16), 0, BIG, (0x0000,), id="uint16-zero"),
    pytest.param(point_of(DataType.UINT16), 65535, BIG, (0xFFFF,), id="uint16-max"),
    pytest.param(point_of(DataType.INT16), -1, BIG, (0xFFFF,), id="int16-minus-one"),
    pytest.param(point_of(DataType.INT16), -32768, BIG, (0x8000,), id="int16-min"),
    pytest.param(point_of(DataType.INT16), 32767, LITTLE, (0x7FFF,), id="int16-word-order-irrelevant"),
    pytest.param(point_of(DataType.UINT32), 0x12345678, BIG, (0x1234, 0x5678), id="uint32-big"),
    pytest.param(point_of(DataType.UINT32), 0x12345678, LITTLE, (0x5678, 0x1234), id="uint32-little"),
    pytest.param(point_of(DataType.UINT32), 2**32 - 1, BIG, (0xFFFF, 0xFFFF), id="uint32-max"),
    pytest.param(point_of(DataType.UINT32), 70000, BIG, (0x0001, 0x1170), id="uint32-above-16-bits"),
    pytest.param(point_of(DataType.INT32), -2, BIG, (0xFFFF, 0xFFFE), id="int32-minus-two-big"),
    pytest.param(point_of(DataType.INT32), -2, LITTLE, (0xFFFE, 0xFFFF), id="int32-minus-two-little"),
    pytest.param(point_of(DataType.INT32), -(2**31), BIG, (0x8000, 0x0000), id="int32-min"),
    pytest.param(point_of(DataType.FLOAT32), 1.5, BIG, (0x3FC0, 0x0000), id="float32-big"),
    pytest.param(point_of(DataType.FLOAT32), 1.5, LITTLE, (0x0000, 0x3FC0), id="float32-little"),
    pytest.param(point_of(DataType.FLOAT32), -2.0, BIG, (0xC000, 0x0000), id="float32-negative"),
    pytest.param(point_of(DataType.ASCII, count=1), "A1", BIG, (0x4131,), id="ascii-one-register"),
    pytest.param(point_of(DataType.ASCII, count=2), "A1B", BIG, (0x4131, 0x4220), id="ascii-space-padded"),
    pytest.param(point_of(DataType.ASCII, count=2), "A1B", LITTLE, (0x4131, 0x4220), id="ascii-ignores-word-order"),
    pytest.param(point_of(DataType.ASCII, count=2), "", BIG, (0x2020, 0x2020), id="ascii-empty"),
    pytest.param(point_of(DataType.UINT16, scale=0.1), 21.5, BIG, (215,), id="uint16-tenths"),
    pytest.param(point_of(DataType.INT16, scale=0.01), -3.25, BIG, (0xFEBB,), id="int16-hundredths"),
    pytest.param(point_of(DataType.UINT32, scale=10), 700000.0, LITTLE, (0x1170, 0x0001), id="uint32-tens"),
    pytest.param(point_of(DataType.FLOAT32, scale=0.5), 3.0, BIG, (0x40C0, 0x0000), id="float32-scaled"),
]


@pytest.mark.parametrize(("point", "value", "word_order", "words"), SPEC_TABLE)
def test_value_encodes_to_the_documented_words(
    point: Point, value: PointValue, word_order: WordOrder, words: tuple[int, ...]
) -> None:
    assert encode(point, value, word_order) == words


@pytest.mark.parametrize(("point", "value", "word_order", "words"), SPEC_TABLE)
def test_documented_words_decode_to_the_value(
    point: Point, value: PointValue, word_order: WordOrder, words: tuple[int, ...]
) -> None:
    decoded = decode(point, words, word_order)
    assert decoded == pytest.approx(value) if isinstance(value, float) else decoded == value
    assert type(decoded) is type(value)


def test_ascii_decode_strips_nul_and_space_padding() -> None:
    assert decode(point_of(DataType.ASCII, count=3), (0x4142, 0x2000, 0x0000), BIG) == "AB"


def test_unscaled_integer_decodes_to_int_and_scaled_to_float() -> None:
    assert type(decode(point_of(DataType.UINT16), (7,), BIG)) is int
    assert decode(point_of(DataType.UINT16, scale=0.5), (7,), BIG) == 3.5


REFUSED_VALUES = [
    pytest.param(point_of(DataType.UINT16), -1, "outside uint16", id="uint16-negative"),
    pytest.param(point_of(DataType.UINT16), 65536, "outside uint16", id="uint16-too-big"),
    pytest.param(point_of(DataType.INT16), 32768, "outside int16", id="int16-too-big"),
    pytest.param(point_of(DataType.UINT32), 2**32, "outside uint32", id="uint32-too-big"),
    pytest.param(point_of(DataType.INT32), -(2**31) - 1, "outside int32", id="int32-too-small"),
    pytest.param(point_of(DataType.UINT16, scale=0.1), 6553.6, "outside uint16", id="scaled-too-big"),
    pytest.param(point_of(DataType.UINT16, scale=1e-300), 1e10, "outside uint16", id="tiny-scale"),
    pytest.param(point_of(DataType.UINT16), True, "not a number", id="bool-as-number"),
    pytest.param(point_of(DataType.UINT16), "5", "not a number", id="text-as-number"),
    pytest.param(point_of(DataType.INT32), float("inf"), "not finite", id="int-infinite"),
    pytest.param(point_of(DataType.FLOAT32), float("nan"), "not finite", id="float-nan"),
    pytest.param(point_of(DataType.FLOAT32), float("-inf"), "not finite", id="float-infinite"),
    pytest.param(point_of(DataType.FLOAT32), 1e39, "too large for float32", id="float-overflow"),
    pytest.param(point_of(DataType.FLOAT32), False, "not a number", id="bool-as-float"),
    pytest.param(point_of(DataType.BOOL), 1, "not a boolean", id="int-as-bool"),
    pytest.param(point_of(DataType.ASCII, count=2), "ABCDE", "5 characters do not fit 4", id="text-too-long"),
    pytest.param(point_of(DataType.ASCII, count=2), "Café", "non-ASCII", id="text-non-ascii"),
    pytest.param(point_of(DataType.ASCII, count=2), 12, "not text", id="number-as-text"),
]


@pytest.mark.parametrize(("point", "value", "problem"), REFUSED_VALUES)
def test_unrepresentable_value_is_refused_naming_the_point(point: Point, value: object, problem: str) -> None:
    with pytest.raises(CodecError, match=problem) as caught:
        encode(point, value, BIG)  # type: ignore[arg-type]
    assert "point 'value'" in str(caught.value)


REFUSED_WORDS = [
    pytest.param(point_of(DataType.UINT32), (1,), "needs 2 register", id="too-few"),
    pytest.param(point_of(DataType.UINT16), (1, 2), "needs 1 register", id="too-many"),
    pytest.param(point_of(DataType.UINT16), (0x10000,), "16-bit words", id="word-too-big"),
    pytest.param(point_of(DataType.INT16), (-1,), "16-bit words", id="word-negative"),
    pytest.param(point_of(DataType.BOOL), (2,), "not 0 or 1", id="bit-not-binary"),
    pytest.param(point_of(DataType.FLOAT32), (0x7FC0, 0x0000), "not a finite", id="float-nan"),
    pytest.param(point_of(DataType.FLOAT32), (0xFF80, 0x0000), "not a finite", id="float-minus-infinity"),
    pytest.param(point_of(DataType.ASCII, count=1), (0xC341,), "not ASCII", id="text-high-byte"),
]


@pytest.mark.parametrize(("point", "words", "problem"), REFUSED_WORDS)
def test_invalid_words_are_refused_instead_of_becoming_a_value(
    point: Point, words: tuple[int, ...], problem: str
) -> None:
    with pytest.raises(CodecError, match=problem):
        decode(point, words, BIG)


def test_codec_error_is_a_wire_error_and_a_value_error() -> None:
    assert issubclass(CodecError, WireError)
    assert issubclass(CodecError, ValueError)


def test_pymodbus_style_bool_bits_decode() -> None:
    assert decode(point_of(DataType.BOOL), [True], BIG) is True


# --- round trips -------------------------------------------------------------------------------------------------

word_orders = st.sampled_from(WordOrder)
INTEGER_TYPES = {
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
}


@pytest.mark.parametrize("data_type", list(INTEGER_TYPES), ids=str)
@given(data=st.data(), word_order=word_orders)
def test_integer_values_round_trip(data: st.DataObject, data_type: DataType, word_order: WordOrder) -> None:
    low, high = INTEGER_TYPES[data_type]
    value = data.draw(st.integers(low, high))
    point = point_of(data_type)
    words = encode(point, value, word_order)
    assert all(0 <= word <= 0xFFFF for word in words)
    assert decode(point, words, word_order) == value


@pytest.mark.parametrize("data_type", [*INTEGER_TYPES, DataType.FLOAT32], ids=str)
@pytest.mark.parametrize("scale", [0.1, 0.01, 2.0], ids=lambda scale: f"scale-{scale}")
@given(data=st.data(), word_order=word_orders)
def test_any_valid_words_survive_decode_then_encode(
    data: st.DataObject, data_type: DataType, scale: float, word_order: WordOrder
) -> None:
    point = point_of(data_type, scale=scale)
    words = tuple(data.draw(st.lists(st.integers(0, 0xFFFF), min_size=point.count, max_size=point.count)))
    if data_type is DataType.FLOAT32:
        raw = struct.unpack(">f", b"".join(w.to_bytes(2, "big") for w in (words if word_order is BIG else words[::-1])))
        if not math.isfinite(raw[0]) or raw[0] == 0:  # non-finite is refused; -0.0 and 0.0 decode alike
            return
    assert encode(point, decode(point, words, word_order), word_order) == words


@given(value=st.floats(width=32, allow_nan=False, allow_infinity=False), word_order=word_orders)
def test_float32_values_round_trip_exactly(value: float, word_order: WordOrder) -> None:
    point = point_of(DataType.FLOAT32)
    assert decode(point, encode(point, value, word_order), word_order) == value


@given(value=st.booleans())
def test_bits_round_trip(value: bool) -> None:
    point = point_of(DataType.BOOL)
    assert decode(point, encode(point, value, BIG), BIG) is value


@given(
    text=st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=20).map(lambda t: t.rstrip(" \x00")),
    word_order=word_orders,
)
def test_ascii_text_without_trailing_padding_round_trips(text: str, word_order: WordOrder) -> None:
    point = point_of(DataType.ASCII, count=10)
    words = encode(point, text, word_order)
    assert len(words) == 10
    assert decode(point, words, word_order) == text


# --- blocks and whole-map images ---------------------------------------------------------------------------------

MIXED = RegisterMap(
    model="mixed",
    word_order=LITTLE,
    points=(
        Point("total", HOLDING, 0, DataType.UINT32),
        Point("level", HOLDING, 2, DataType.INT16, scale=0.1),
        Point("label", HOLDING, 4, DataType.ASCII, count=2),
        Point("relay", Table.COIL, 0, DataType.BOOL, writable=True),
        Point("alarm", Table.COIL, 3, DataType.BOOL, writable=True),
    ),
)


def test_map_values_become_per_table_words_and_decode_back_from_one_block() -> None:
    values: dict[str, PointValue] = {"total": 70000, "level": -1.5, "label": "B2", "relay": True, "alarm": False}
    image = encode_map_values(MIXED, values)
    assert image == {
        HOLDING: {0: 0x1170, 1: 0x0001, 2: 0xFFF1, 4: 0x4232, 5: 0x2020},
        Table.COIL: {0: 1, 3: 0},
    }
    holding = [image[HOLDING].get(address, 0) for address in range(6)]
    assert decode_block(MIXED, HOLDING, 0, holding) == {"total": 70000, "level": -1.5, "label": "B2"}
    coils = [image[Table.COIL].get(address, 0) for address in range(4)]
    assert decode_block(MIXED, Table.COIL, 0, coils) == {"relay": True, "alarm": False}


def test_decode_block_leaves_out_points_outside_the_block() -> None:
    assert decode_block(MIXED, HOLDING, 4, [0x4F4B, 0x2020]) == {"label": "OK"}


def test_decode_block_refuses_a_block_that_cuts_a_point_in_half() -> None:
    with pytest.raises(CodecError, match=r"point 'total' .* straddles the block 1\.\.2"):
        decode_block(MIXED, HOLDING, 1, [0, 0])


def test_encode_map_values_refuses_unknown_names_and_bad_values() -> None:
    with pytest.raises(CodecError, match="map 'mixed' has no point 'missing'"):
        encode_map_values(MIXED, {"missing": 1})
    with pytest.raises(CodecError, match="point 'total'"):
        encode_map_values(MIXED, {"total": -1})
