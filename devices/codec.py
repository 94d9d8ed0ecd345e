"""The one codec between point values and Modbus words, shared by the edge poller and the simulators.

- Registers are 16-bit words 0..0xFFFF, bytes big-endian inside a word (Modbus spec 4.2); 32-bit types span two
  words in the map's :class:`~devices.registers.WordOrder`. Bits (coils, discrete inputs) travel as 0/1.
- Engineering value = raw value * ``point.scale``. Integer points with scale 1 decode to ``int``, scaled ones to
  ``float``; :func:`encode` rounds ``value / scale`` to the nearest raw integer (ties to even) and refuses what
  does not fit. Integer scaling is done in decimal, so 21.5 at scale 0.1 is raw 215 and decodes back to 21.5.
- ASCII: two characters per register, first in the high byte; encode pads with spaces, decode strips trailing
  spaces and NULs (devices pad with either). Word order does not apply: characters run in address order.
- FLOAT32: NaN and infinities are refused both ways, so a device fault never becomes a number.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from devices.errors import WireError
from devices.registers import DataType, Point, RegisterMap, Table, WordOrder

PointValue = bool | int | float | str

# Raw (unscaled) ranges of the integer types.
_INTEGER_RANGES: Mapping[DataType, tuple[int, int]] = {
    DataType.UINT16: (0, 0xFFFF),
    DataType.INT16: (-0x8000, 0x7FFF),
    DataType.UINT32: (0, 0xFFFF_FFFF),
    DataType.INT32: (-0x8000_0000, 0x7FFF_FFFF),
}


class CodecError(WireError, ValueError):
    """A value that cannot become registers, or registers that are not a valid value; names the point."""


def _words_from_bytes(raw: bytes, word_order: WordOrder) -> tuple[int, ...]:
    words = tuple(int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2))
    return words[::-1] if word_order is WordOrder.LITTLE else words


def _bytes_from_words(words: Sequence[int], word_order: WordOrder) -> bytes:
    ordered = list(words)[::-1] if word_order is WordOrder.LITTLE else list(words)
    return b"".join(word.to_bytes(2, "big") for word in ordered)


def _raw_integer(point: Point, value: PointValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(f"point {point.name!r}: {value!r} is not a number")
    if not math.isfinite(value):
        raise CodecError(f"point {point.name!r}: {value!r} is not finite")
    # Decimal arithmetic on the shortest repr: 21.5 at scale 0.1 is raw 215 exactly, not 214.99999999999997.
    raw = int((Decimal(repr(value)) / Decimal(repr(point.scale))).to_integral_value(ROUND_HALF_EVEN))
    low, high = _INTEGER_RANGES[point.data_type]
    if not low <= raw <= high:
        raise CodecError(f"point {point.name!r}: {value!r} is raw {raw}, outside {point.data_type} {low}..{high}")
    return raw


def _encode_ascii(point: Point, value: PointValue) -> tuple[int, ...]:
    if not isinstance(value, str):
        raise CodecError(f"point {point.name!r}: {value!r} is not text")
    if not value.isascii():
        raise CodecError(f"point {point.name!r}: {value!r} has non-ASCII characters")
    capacity = 2 * point.count
    if len(value) > capacity:
        raise CodecError(f"point {point.name!r}: {len(value)} characters do not fit {capacity}")
    return _words_from_bytes(value.ljust(capacity).encode("ascii"), WordOrder.BIG)


def encode(point: Point, value: PointValue, word_order: WordOrder) -> tuple[int, ...]:
    """The register words (or 0/1 bits) that carry ``value`` for ``point``; CodecError if it cannot."""
    data_type = point.data_type
    if data_type is DataType.BOOL:
        if not isinstance(value, bool):
            raise CodecError(f"point {point.name!r}: {value!r} is not a boolean")
        return (int(value),)
    if data_type is DataType.ASCII:
        return _encode_ascii(point, value)
    if data_type is DataType.FLOAT32:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CodecError(f"point {point.name!r}: {value!r} is not a number")
        raw_float = value / point.scale
        if not math.isfinite(raw_float):
            raise CodecError(f"point {point.name!r}: {value!r} is not finite")
        try:
            packed = struct.pack(">f", raw_float)
        except OverflowError as exc:
            raise CodecError(f"point {point.name!r}: {value!r} is too large for float32") from exc
        return _words_from_bytes(packed, word_order)
    raw = _raw_integer(point, value)
    size = 2 * point.count
    return _words_from_bytes(raw.to_bytes(size, "big", signed=raw < 0), word_order)


def decode(point: Point, registers: Sequence[int], word_order: WordOrder) -> PointValue:
    """The value ``point`` holds in ``registers`` (exactly ``point.count`` of them); CodecError if invalid."""
    if len(registers) != point.count:
        raise CodecError(f"point {point.name!r}: needs {point.count} register(s), got {len(registers)}")
    data_type = point.data_type
    if data_type is DataType.BOOL:
        if registers[0] not in (0, 1):
            raise CodecError(f"point {point.name!r}: bit {registers[0]!r} is not 0 or 1")
        return bool(registers[0])
    if any(isinstance(word, bool) or not 0 <= word <= 0xFFFF for word in registers):
        raise CodecError(f"point {point.name!r}: {list(registers)!r} are not all 16-bit words")
    if data_type is DataType.ASCII:
        raw_text = _bytes_from_words(registers, WordOrder.BIG).rstrip(b" \x00")
        try:
            return raw_text.decode("ascii")
        except UnicodeDecodeError as exc:
            raise CodecError(f"point {point.name!r}: {raw_text!r} is not ASCII") from exc
    raw_bytes = _bytes_from_words(registers, word_order)
    if data_type is DataType.FLOAT32:
        (number,) = struct.unpack(">f", raw_bytes)
        if not math.isfinite(number):
            raise CodecError(f"point {point.name!r}: float32 {number} is not a finite number")
        return float(number) * point.scale
    signed = data_type in (DataType.INT16, DataType.INT32)
    raw = int.from_bytes(raw_bytes, "big", signed=signed)
    return raw if point.scale == 1 else float(Decimal(repr(point.scale)) * raw)


def decode_block(
    register_map: RegisterMap, table: Table, start: int, registers: Sequence[int]
) -> dict[str, PointValue]:
    """Values of every point of ``table`` inside a block read from ``start``; points outside it are left out.

    CodecError when a point straddles the block's edge (the read was planned wrong) or its words are invalid.
    """
    end = start + len(registers)
    values: dict[str, PointValue] = {}
    for point in register_map.points_in(table):
        if point.end <= start or point.address >= end:
            continue
        if point.address < start or point.end > end:
            raise CodecError(
                f"map {register_map.model!r}: point {point.name!r} ({point.address}..{point.end - 1}) "
                f"straddles the block {start}..{end - 1}"
            )
        offset = point.address - start
        values[point.name] = decode(point, registers[offset : offset + point.count], register_map.word_order)
    return values


def encode_map_values(register_map: RegisterMap, values: Mapping[str, PointValue]) -> dict[Table, dict[int, int]]:
    """Per table, address -> word (or 0/1 bit) for the named values: how a simulator fills its data store.

    CodecError for a name the map does not have or a value its point cannot carry.
    """
    image: dict[Table, dict[int, int]] = {}
    for name, value in values.items():
        try:
            point = register_map.point(name)
        except KeyError as exc:
            raise CodecError(f"map {register_map.model!r} has no point {name!r}") from exc
        words = encode(point, value, register_map.word_order)
        table_image = image.setdefault(point.table, {})
        for offset, word in enumerate(words):
            table_image[point.address + offset] = word
    return image
