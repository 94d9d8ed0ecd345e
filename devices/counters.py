"""Wrap-aware arithmetic on a device's free-running counters (Modbus 32-bit in/out counters, 16-bit event counts).

A counter register counts up modulo 2**bits and starts again at 0 past its maximum (pymodbus's simulator
``increment`` action does the same). The increase between two polls is therefore the difference modulo 2**bits.
A counter *reset* (power cycle, cleared by an operator) looks exactly like a wrap that counted almost 2**bits
people; callers tell them apart with a plausibility bound of their own, which this module does not guess.
"""

from __future__ import annotations


def counter_delta(previous: int, current: int, bits: int = 32) -> int:
    """How far an unsigned ``bits``-wide counter advanced from ``previous`` to ``current``, across one wrap.

    ValueError when either reading is outside 0..2**bits-1 or ``bits`` is not positive.
    """
    if bits < 1:
        raise ValueError(f"counter width {bits} must be at least 1 bit")
    modulus = 1 << bits
    for label, reading in (("previous", previous), ("current", current)):
        if isinstance(reading, bool) or not 0 <= reading < modulus:
            raise ValueError(f"{label} reading {reading!r} is outside the {bits}-bit range 0..{modulus - 1}")
    return (current - previous) % modulus
