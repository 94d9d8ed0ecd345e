"""The domain's verdict on a space from its sensors' newest reports, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.domain.occupancy import OccupancyState, SensorReport, assess_live_occupancy

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
STALE_AFTER = timedelta(minutes=3)


def report(people: int, seconds_ago: float) -> SensorReport:
    return SensorReport(people=people, observed_at=NOW - timedelta(seconds=seconds_ago))


def test_fresh_reports_are_summed_into_an_occupied_space() -> None:
    live = assess_live_occupancy(
        sensors=["front", "back"],
        reports={"front": report(3, 10), "back": report(4, 50)},
        now=NOW,
        stale_after=STALE_AFTER,
    )
    assert (live.state, live.people, live.age_s) == (OccupancyState.OCCUPIED, 7, 50.0)
    assert live.observed_at == NOW - timedelta(seconds=50)
    assert "7 people counted by front, back" in live.reason


def test_a_fresh_zero_count_is_empty() -> None:
    live = assess_live_occupancy(sensors=["s"], reports={"s": report(0, 5)}, now=NOW, stale_after=STALE_AFTER)
    assert (live.state, live.people) == (OccupancyState.EMPTY, 0)


def test_a_stale_sensor_makes_the_space_unknown_never_empty() -> None:
    live = assess_live_occupancy(sensors=["s"], reports={"s": report(0, 600)}, now=NOW, stale_after=STALE_AFTER)
    assert live.state is OccupancyState.UNKNOWN
    assert live.people == 0  # the last known count is still shown
    assert "stale sensor" in live.reason
    assert "last reading s 10 min ago; stale after 3 min" in live.reason


def test_a_report_exactly_at_the_stale_limit_is_still_fresh() -> None:
    live = assess_live_occupancy(sensors=["s"], reports={"s": report(2, 180)}, now=NOW, stale_after=STALE_AFTER)
    assert live.state is OccupancyState.OCCUPIED


def test_one_stale_sensor_of_two_makes_the_space_unknown() -> None:
    live = assess_live_occupancy(
        sensors=["front", "back"],
        reports={"front": report(0, 5), "back": report(0, 3600)},
        now=NOW,
        stale_after=STALE_AFTER,
    )
    assert live.state is OccupancyState.UNKNOWN
    assert "back 60 min ago" in live.reason


def test_a_configured_sensor_that_never_reported_makes_the_space_unknown() -> None:
    live = assess_live_occupancy(
        sensors=["front", "back"], reports={"front": report(0, 5)}, now=NOW, stale_after=STALE_AFTER
    )
    assert (live.state, live.people) == (OccupancyState.UNKNOWN, 0)
    assert live.reason == "no reading yet from back"


@pytest.mark.parametrize(
    ("sensors", "reason"),
    [([], "no occupancy sensor in this space"), (["s"], "no reading yet from s")],
    ids=["no-sensor", "never-reported"],
)
def test_without_evidence_the_space_is_unknown(sensors: list[str], reason: str) -> None:
    live = assess_live_occupancy(sensors=sensors, reports={}, now=NOW, stale_after=STALE_AFTER)
    assert (live.state, live.people, live.observed_at, live.reason) == (OccupancyState.UNKNOWN, None, None, reason)


def test_reports_of_devices_no_longer_configured_for_the_space_are_ignored() -> None:
    live = assess_live_occupancy(
        sensors=["new"], reports={"new": report(1, 5), "removed": report(30, 7200)}, now=NOW, stale_after=STALE_AFTER
    )
    assert (live.state, live.people) == (OccupancyState.OCCUPIED, 1)
