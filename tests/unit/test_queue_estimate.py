"""Wait estimates: learned service times, the queue dispatched over the open windows, a range that widens."""

from __future__ import annotations

import pytest

from edge.queue.estimate import (
    DEFAULT_SERVICE_S,
    RECENT_SAMPLES,
    WALK_UP_S,
    OpenWindow,
    WaitEstimator,
    WaitingTicket,
    WaitRate,
    record_service_time,
)

ESTIMATOR = WaitEstimator()
MINUTES = 60.0


def times(**samples: list[float]) -> dict[str, list[float]]:
    return {service: [minutes * MINUTES for minutes in values] for service, values in samples.items()}


def rate_of(
    service: str,
    windows: list[OpenWindow],
    waiting: list[WaitingTicket] | None = None,
    service_times: dict[str, list[float]] | None = None,
) -> WaitRate:
    rates = ESTIMATOR.rates(
        services=[service], windows=windows, waiting=waiting or [], service_times=service_times or {}
    )
    rate = rates[service]
    assert rate is not None
    return rate


def test_the_default_stands_until_service_times_are_seen_and_recent_ones_weigh_more() -> None:
    assert ESTIMATOR.mean_service_s({}, "affairs") == DEFAULT_SERVICE_S
    morning_then_quick = times(affairs=[10.0] * 20 + [4.0] * 10)
    mean = ESTIMATOR.mean_service_s(morning_then_quick, "affairs") / MINUTES
    plain_average = (10 * 20 + 4 * 10) / 30
    assert mean < plain_average - 1  # the day has sped up and the estimate follows
    assert mean > 4


def test_only_the_most_recent_service_times_are_kept() -> None:
    kept: dict[str, list[float]] = {}
    for seconds in range(100):
        record_service_time(kept, "affairs", float(seconds))
    assert kept["affairs"] == [float(s) for s in range(100 - RECENT_SAMPLES, 100)]


def test_no_open_window_for_a_service_gives_no_estimate() -> None:
    rates = ESTIMATOR.rates(
        services=["affairs", "culture"],
        windows=[OpenWindow("window-1", frozenset({"affairs"}))],
        waiting=[],
        service_times={},
    )
    assert rates["culture"] is None
    assert rates["affairs"] is not None


def test_an_idle_window_with_nobody_waiting_calls_at_once() -> None:
    rate = rate_of("affairs", [OpenWindow("window-1", frozenset({"affairs"}))])
    assert rate.at(0) == (0.0, WALK_UP_S)


def test_the_range_widens_with_the_queue_and_two_windows_halve_the_time_per_ticket() -> None:
    queue = [WaitingTicket("affairs")] * 6
    one = rate_of("affairs", [OpenWindow("w1", frozenset({"affairs"}))], queue, times(affairs=[8.0] * 30))
    two = rate_of(
        "affairs",
        [OpenWindow("w1", frozenset({"affairs"})), OpenWindow("w2", frozenset({"affairs"}))],
        queue,
        times(affairs=[8.0] * 30),
    )
    low, high = one.at(6)
    assert low < 6 * 8 * MINUTES < high  # six services of about 8 minutes ahead at one window
    assert high - low > one.at(1)[1] - one.at(1)[0]
    assert two.at(6)[0] == pytest.approx(one.at(6)[0] / 2, rel=0.25)
    assert two.at(6)[1] < one.at(6)[1]


def test_a_busy_window_is_free_sooner_the_longer_its_current_service_has_run() -> None:
    def base_with(elapsed_min: float) -> float:
        window = OpenWindow("w1", frozenset({"affairs"}), busy_with="affairs", busy_s=elapsed_min * MINUTES)
        return sum(rate_of("affairs", [window], service_times=times(affairs=[10.0] * 30)).at(0)) / 2

    assert base_with(0) > base_with(4) > base_with(8)
    assert base_with(8) == pytest.approx(base_with(30))  # at least half a mean remains, however long it has run


def test_a_window_shared_with_a_longer_queue_of_another_service_makes_the_wait_longer() -> None:
    shared = [OpenWindow("w2", frozenset({"affairs", "culture"}))]
    others_first = [WaitingTicket("culture")] * 4 + [WaitingTicket("affairs")]
    alone = rate_of("affairs", shared, [WaitingTicket("affairs")])
    behind_culture = rate_of("affairs", shared, others_first)
    assert behind_culture.at(1)[0] > alone.at(1)[1]  # four culture services come first, whole


def test_a_ticket_transferred_to_another_window_takes_none_of_this_windows_time() -> None:
    windows = [OpenWindow("w1", frozenset({"affairs"})), OpenWindow("w2", frozenset({"affairs"}))]
    sent_to_w2 = [WaitingTicket("affairs", window="w2")] * 3
    rate = rate_of("affairs", windows, sent_to_w2)
    assert rate.at(3) == (0.0, WALK_UP_S)  # three ahead, but all for w2: w1 calls a new ticket at once
