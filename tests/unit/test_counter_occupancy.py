"""Occupancy from free-running in/out counters: deltas, wrap, clamping and drift, closing reset, device reset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.counter_occupancy import CounterChannel, CounterOccupancy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WRAP = 2**32
ONE_CHANNEL = (CounterChannel("in", "out"),)


def at(poll: int) -> datetime:
    return T0 + timedelta(seconds=5 * poll)


def fed(readings: list[tuple[int, int]], channels: tuple[CounterChannel, ...] = ONE_CHANNEL) -> CounterOccupancy:
    occupancy = CounterOccupancy(channels)
    for poll, (ins, outs) in enumerate(readings):
        occupancy.observe({"in": ins, "out": outs}, at(poll))
    return occupancy


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        ([(0, 0)], 0),
        ([(10, 4)], 0),  # the first reading is the baseline, whatever the totals
        ([(10, 4), (15, 4)], 5),
        ([(10, 4), (15, 4), (15, 7)], 2),
        ([(100, 100), (103, 101), (110, 105)], 5),
        ([(WRAP - 2, 0), (3, 0)], 5),  # in-counter wrapped
        ([(WRAP - 1, WRAP - 1), (4, 1)], 3),  # both wrapped
        ([(0, WRAP - 1), (6, 0)], 5),  # out-counter wrapped
    ],
    ids=["baseline-only", "baseline-ignores-totals", "ins", "outs", "mixed", "in-wrap", "both-wrap", "out-wrap"],
)
def test_occupancy_is_ins_minus_outs_since_the_baseline_across_wraps(
    readings: list[tuple[int, int]], expected: int
) -> None:
    assert fed(readings).occupancy == expected


def test_occupancy_is_unknown_before_the_first_reading() -> None:
    assert CounterOccupancy(ONE_CHANNEL).occupancy is None


def test_occupancy_sums_every_channel() -> None:
    occupancy = CounterOccupancy()  # the people counter's two channels
    occupancy.observe({"channel_1_in": 0, "channel_1_out": 0, "channel_2_in": 7, "channel_2_out": 7}, at(0))
    update = occupancy.observe(
        {"channel_1_in": 4, "channel_1_out": 1, "channel_2_in": 9, "channel_2_out": 8, "uptime": 60}, at(1)
    )
    assert (update.occupancy, update.entered, update.left) == (4, 6, 2)


def test_occupancy_never_goes_below_zero_and_the_clamped_people_are_drift() -> None:
    occupancy = fed([(0, 0), (2, 0)])
    update = occupancy.observe({"in": 2, "out": 5}, at(2))
    assert (update.occupancy, update.clamped) == (0, 3)
    assert "drift" in update.detail
    assert occupancy.observe({"in": 4, "out": 5}, at(3)).occupancy == 2  # counting resumes from zero
    report = occupancy.reset(at(4))
    assert (report.left_over, report.clamped_since_last_close) == (2, 3)


def test_closing_reset_empties_the_space_and_reports_who_was_left() -> None:
    occupancy = fed([(0, 0), (9, 2)])
    report = occupancy.reset(at(2))
    assert (report.at, report.left_over, report.clamped_since_last_close) == (at(2), 7, 0)
    assert occupancy.occupancy == 0
    # The baseline survives the reset: the next morning counts from the counters' values at close.
    assert occupancy.observe({"in": 12, "out": 2}, at(3)).occupancy == 3
    assert occupancy.reset(at(4)).clamped_since_last_close == 0


def test_a_huge_jump_is_a_device_reset_and_starts_a_new_baseline_instead_of_counting() -> None:
    occupancy = fed([(5_000, 4_990), (5_003, 4_990)])
    assert occupancy.occupancy == 3
    # Power cycle: counters back near zero, which modulo 2**32 is a jump of ~2**32 crossings.
    update = occupancy.observe({"in": 1, "out": 0}, at(2))
    assert update.baseline_reset
    assert (update.occupancy, update.entered, update.left) == (3, 0, 0)
    assert "device reset" in update.detail
    assert occupancy.observe({"in": 2, "out": 0}, at(3)).occupancy == 4


def test_a_jump_just_within_the_plausibility_bound_is_counted() -> None:
    occupancy = CounterOccupancy(ONE_CHANNEL, max_crossings_per_reading=1000)
    occupancy.observe({"in": 0, "out": 0}, at(0))
    assert occupancy.observe({"in": 1000, "out": 0}, at(1)).occupancy == 1000
    assert occupancy.observe({"in": 2001, "out": 0}, at(2)).baseline_reset


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    values: Mapping[str, bool | int | float | str]
    quality: str
    detail: str = ""


def test_stale_input_makes_the_occupancy_unknown_until_the_next_good_reading() -> None:
    occupancy = fed([(0, 0), (4, 0)])
    update = occupancy.feed(Snapshot(at(2), {}, "unreachable", "connection refused"))
    assert update.stale
    assert update.occupancy is None
    assert occupancy.occupancy is None
    assert "unreachable" in update.detail
    frozen = occupancy.feed(Snapshot(at(3), {"in": 4, "out": 0}, "stale", "uptime unchanged for 3 polls"))
    assert frozen.occupancy is None
    # Crossings during the outage are still in the cumulative counters.
    assert occupancy.feed(Snapshot(at(4), {"in": 9, "out": 1}, "good")).occupancy == 8


@pytest.mark.parametrize(
    "values",
    [{"in": 3}, {"in": 3, "out": -1}, {"in": 3, "out": 2.5}, {"in": 3, "out": WRAP}, {"in": True, "out": 0}],
    ids=["missing", "negative", "float", "too-wide", "bool"],
)
def test_a_reading_that_is_not_a_counter_makes_the_occupancy_unknown(values: dict[str, int | float]) -> None:
    occupancy = fed([(0, 0), (2, 0)])
    assert occupancy.observe(values, at(2)).occupancy is None
    assert occupancy.observe({"in": 3, "out": 0}, at(3)).occupancy == 3


def test_closing_while_stale_reports_an_unknown_left_over_and_rebaselines() -> None:
    occupancy = fed([(0, 0), (5, 0)])
    occupancy.mark_stale(at(2), "frozen")
    report = occupancy.reset(at(3))
    assert report.left_over is None
    first = occupancy.observe({"in": 50, "out": 1}, at(4))
    assert (first.baseline_reset, first.occupancy) == (True, 0)


# One poll: people in and out on each of two channels, outs never more than present plus those who came in.
polls = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 200), st.integers(0, 400), st.integers(0, 1)), max_size=40
)


@given(start=st.integers(0, WRAP - 1), near_wrap=st.booleans(), steps=polls)
def test_occupancy_equals_the_true_count_for_any_crossings_from_any_counter_start(
    start: int, near_wrap: bool, steps: list[tuple[int, int, int, int]]
) -> None:
    origin = WRAP - 1 - start % 500 if near_wrap else start
    counters = dict.fromkeys(("channel_1_in", "channel_1_out", "channel_2_in", "channel_2_out"), origin)
    occupancy = CounterOccupancy()
    occupancy.observe(counters, T0)
    present = 0
    for poll, (in_1, in_2, wanted_out, out_channel) in enumerate(steps, start=1):
        outs = min(wanted_out, present + in_1 + in_2)
        present += in_1 + in_2 - outs
        for name, crossed in (
            ("channel_1_in", in_1),
            ("channel_2_in", in_2),
            (f"channel_{out_channel + 1}_out", outs),
        ):
            counters[name] = (counters[name] + crossed) % WRAP
        update = occupancy.observe(counters, T0 + timedelta(seconds=poll))
        assert update.occupancy == present
        assert update.clamped == 0
