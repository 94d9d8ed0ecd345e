"""Wrap-aware counter deltas: a free-running Modbus counter that passes its maximum still counts forward."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.counters import counter_delta


@pytest.mark.parametrize(
    ("previous", "current", "bits", "delta"),
    [
        (10, 15, 32, 5),
        (7, 7, 32, 0),
        (2**32 - 3, 2, 32, 5),
        (2**32 - 1, 0, 32, 1),
        (65530, 4, 16, 10),
        (0, 2**32 - 1, 32, 2**32 - 1),
    ],
    ids=["forward", "unchanged", "across-32-bit-wrap", "wrap-to-zero", "across-16-bit-wrap", "full-range"],
)
def test_counter_delta_counts_forward_across_the_wrap(previous: int, current: int, bits: int, delta: int) -> None:
    assert counter_delta(previous, current, bits) == delta


@pytest.mark.parametrize(
    ("previous", "current", "bits", "problem"),
    [
        (-1, 0, 32, "previous reading -1"),
        (0, 2**32, 32, "current reading 4294967296"),
        (0, 65536, 16, "outside the 16-bit range"),
        (0, True, 32, "current reading True"),
        (0, 0, 0, "at least 1 bit"),
    ],
    ids=["negative", "past-32-bits", "past-16-bits", "bool", "zero-width"],
)
def test_counter_delta_refuses_readings_outside_the_counter(
    previous: int, current: int, bits: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        counter_delta(previous, current, bits)


@given(start=st.integers(0, 2**32 - 1), increase=st.integers(0, 2**32 - 1))
def test_counter_delta_recovers_any_increase_smaller_than_one_wrap(start: int, increase: int) -> None:
    assert counter_delta(start, (start + increase) % 2**32) == increase
