"""Modbus register maps as validated data: one data-type vocabulary, frozen point definitions, checked maps.

Addresses here are always the 0-based PDU addresses that travel on the wire (Modbus Application Protocol
Specification V1.1b3, section 4.4). Datasheets often print the 1-based Modicon reference instead: "40001" is
holding register 0, "30001" input register 0, "10001" discrete input 0, "00017" coil 16; six-digit forms
("400001") exist for addresses above 9998. :func:`pdu_address_from_reference` converts one.

A :class:`RegisterMap` refuses, at construction, anything a poller or a simulator would trip over later:
duplicate names, a count that does not fit the data type, overlapping points, addresses outside 0..65535,
bits in register tables or registers in bit tables, writable points in read-only tables, and a zero scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType

from devices.errors import WireError

MAX_ADDRESS = 0xFFFF
# Largest reads one request may ask for (spec 6.1-6.4): 2000 coils/discrete inputs, 125 registers.
MAX_BITS_PER_READ = 2000
MAX_REGISTERS_PER_READ = 125


class RegisterMapError(WireError, ValueError):
    """A register map that cannot be used; the message names the map and the offending point."""


class DataType(StrEnum):
    """How a point's value is laid out in 16-bit registers (or one bit, for BOOL)."""

    BOOL = "bool"  # one coil or discrete input
    UINT16 = "uint16"
    INT16 = "int16"  # two's complement
    UINT32 = "uint32"  # two registers, order set by the map's WordOrder
    INT32 = "int32"
    FLOAT32 = "float32"  # IEEE 754 single precision over two registers
    ASCII = "ascii"  # two characters per register, first character in the high byte; count set by the point

    @property
    def fixed_count(self) -> int | None:
        """Registers (bits, for BOOL) one value occupies; None for ASCII, whose length the point chooses."""
        return _FIXED_COUNTS.get(self)


_FIXED_COUNTS: MappingProxyType[DataType, int] = MappingProxyType(
    {
        DataType.BOOL: 1,
        DataType.UINT16: 1,
        DataType.INT16: 1,
        DataType.UINT32: 2,
        DataType.INT32: 2,
        DataType.FLOAT32: 2,
    }
)


class WordOrder(StrEnum):
    """Order of the 16-bit words of a 32-bit value. Bytes inside a word are always big-endian (spec 4.2)."""

    BIG = "big"  # high word at the lower address: the Modbus convention (Modicon, Banner DX80)
    LITTLE = "little"  # low word at the lower address: common on counter modules, often a device setting


class Table(StrEnum):
    """The four Modbus data tables; coils and holding registers are the writable ones."""

    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"
    INPUT_REGISTER = "input_register"
    HOLDING_REGISTER = "holding_register"

    @property
    def holds_bits(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE_INPUT)

    @property
    def writable(self) -> bool:
        return self in (Table.COIL, Table.HOLDING_REGISTER)


# Leading digit of a Modicon reference -> table (the "4xxxx" convention).
_REFERENCE_TABLES: MappingProxyType[str, Table] = MappingProxyType(
    {"0": Table.COIL, "1": Table.DISCRETE_INPUT, "3": Table.INPUT_REGISTER, "4": Table.HOLDING_REGISTER}
)


def pdu_address_from_reference(reference: str) -> tuple[Table, int]:
    """The table and 0-based PDU address of a 1-based Modicon reference: "40001" -> (HOLDING_REGISTER, 0).

    A string, because the leading zeros of coil references ("00017") carry meaning. Five digits address
    1..9999, six digits 1..65536. ValueError for anything else.
    """
    if not reference.isascii() or not reference.isdigit() or len(reference) not in (5, 6):
        raise ValueError(f"Modbus reference {reference!r} must be 5 or 6 digits, like '40001' or '400001'")
    table = _REFERENCE_TABLES.get(reference[0])
    if table is None:
        raise ValueError(f"Modbus reference {reference!r} must start with 0, 1, 3 or 4")
    number = int(reference[1:])
    if not 1 <= number <= MAX_ADDRESS + 1:
        raise ValueError(f"Modbus reference {reference!r} is outside 1..{MAX_ADDRESS + 1}")
    return table, number - 1


@dataclass(frozen=True, slots=True)
class Point:
    """One named value of a device: where it lives and how to read it.

    ``count`` is registers (bits for BOOL); leave it 0 for fixed-size types and it is derived from
    ``data_type``; ASCII needs it. Engineering value = raw value * ``scale`` (e.g. 0.1 for tenths of a degree).
    Points are checked when a :class:`RegisterMap` is built, not here, so the error can name the map.
    """

    name: str
    table: Table
    address: int
    data_type: DataType
    count: int = 0
    scale: float = 1.0
    unit: str | None = None
    writable: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        fixed = self.data_type.fixed_count
        if self.count == 0 and fixed is not None:
            object.__setattr__(self, "count", fixed)

    @property
    def end(self) -> int:
        """One past the last address the point occupies."""
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """A contiguous range of one table that one read request fetches: ``count`` registers (or bits) from ``start``."""

    start: int
    count: int


def _point_problem(point: Point) -> str | None:
    fixed = point.data_type.fixed_count
    if point.data_type is DataType.ASCII and point.count < 1:
        return "an ASCII point needs a count of at least 1 register"
    if fixed is not None and point.count != fixed:
        return f"{point.data_type} takes {fixed} register(s), not count={point.count}"
    if point.count > MAX_REGISTERS_PER_READ:
        return f"count {point.count} does not fit one request (at most {MAX_REGISTERS_PER_READ} registers)"
    if point.table.holds_bits != (point.data_type is DataType.BOOL):
        return f"{point.data_type} cannot live in the {point.table} table"
    if point.address < 0 or point.end - 1 > MAX_ADDRESS:
        return f"addresses {point.address}..{point.end - 1} are outside 0..{MAX_ADDRESS}"
    if point.writable and not point.table.writable:
        return f"the {point.table} table is read-only"
    if point.scale == 0 or not math.isfinite(point.scale):  # no raw value would map back
        return f"scale {point.scale} must be a finite nonzero number"
    if point.data_type in (DataType.BOOL, DataType.ASCII) and point.scale != 1:
        return f"{point.data_type} points cannot be scaled"
    return None


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """The points of one device model, validated at construction (RegisterMapError names map and point).

    ``read_gap``: unmapped addresses a poller may read through to join two blocks into one request. 0 unless
    the device is known to answer for the gap; many devices refuse unmapped addresses (exception 0x02).
    ``write_multiple_only``: the device accepts only FC15/FC16 writes, never FC05/FC06 (Ditel displays).
    """

    model: str
    word_order: WordOrder
    points: tuple[Point, ...]
    read_gap: int = 0
    write_multiple_only: bool = False
    _by_name: MappingProxyType[str, Point] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", tuple(self.points))
        if self.read_gap < 0:
            raise RegisterMapError(f"map {self.model!r}: read_gap {self.read_gap} must be >= 0")
        by_name: dict[str, Point] = {}
        for point in self.points:
            if point.name in by_name:
                raise RegisterMapError(f"map {self.model!r}: point {point.name!r} is defined twice")
            problem = _point_problem(point)
            if problem is not None:
                raise RegisterMapError(f"map {self.model!r}: point {point.name!r}: {problem}")
            by_name[point.name] = point
        for table in Table:
            ordered = self.points_in(table)
            for before, after in pairwise(ordered):
                if after.address < before.end:
                    raise RegisterMapError(
                        f"map {self.model!r}: point {after.name!r} at {table} {after.address} overlaps "
                        f"point {before.name!r} ({before.address}..{before.end - 1})"
                    )
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))

    def point(self, name: str) -> Point:
        """The point called ``name``; KeyError if the map has none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"map {self.model!r} has no point {name!r}") from None

    def points_in(self, table: Table) -> tuple[Point, ...]:
        """The points of one table, by address."""
        return tuple(sorted((p for p in self.points if p.table is table), key=lambda p: p.address))

    def blocks(self, table: Table, *, read_gap: int | None = None) -> tuple[ReadBlock, ...]:
        """Fewest contiguous reads covering every point of ``table``: neighbours at most ``read_gap`` (default:
        the map's) unmapped addresses apart share a request, within the spec's per-request maximum."""
        gap = self.read_gap if read_gap is None else read_gap
        limit = MAX_BITS_PER_READ if table.holds_bits else MAX_REGISTERS_PER_READ
        blocks: list[ReadBlock] = []
        for point in self.points_in(table):
            if blocks:
                start = blocks[-1].start
                if point.address - (start + blocks[-1].count) <= gap and point.end - start <= limit:
                    blocks[-1] = ReadBlock(start, point.end - start)
                    continue
            blocks.append(ReadBlock(point.address, point.count))
        return tuple(blocks)
