"""The report counts as Grafana's dashboards count: its definitions are the ones in the rooms and windows panels' SQL,
so a report and a dashboard over the same days agree (tests/system/test_report.py compares their figures)."""

from __future__ import annotations

import pytest

from dashboards.grafana import rooms, windows
from dashboards.reports import queries


@pytest.mark.parametrize(
    ("definition", "panel_sql"),
    [
        (queries.COUNTED, rooms.BOOKED_VS_USED.sql),
        (queries.COUNTED, rooms.BOOKINGS_STATS.sql),
        (queries.WAIT_S, windows.PER_SERVICE.sql),
        (queries.SERVICE_S, windows.PER_SERVICE.sql),
        (queries.WITHIN, windows.PER_SERVICE.sql),
        (queries.WAIT_S, windows.PER_WINDOW.sql),
    ],
    ids=["booked", "bookings", "wait", "service", "within", "window-wait"],
)
def test_a_report_definition_is_the_one_in_grafanas_panel(definition: str, panel_sql: str) -> None:
    assert definition in panel_sql


def test_used_means_a_sensor_counted_somebody_in_the_15_minute_bucket_as_in_grafana() -> None:
    for fragment in ("FROM occupancy_15m o", "o.max_people > 0", "interval '15 minutes'", "/ 4.0"):
        assert fragment in rooms.BOOKED_VS_USED.sql
        assert fragment in queries.ROOMS_OF_DAY


def test_no_shows_released_are_enforced_releases_as_in_grafana() -> None:
    released = "kind = 'released' AND {}mode = 'enforce'"
    assert released.format("e.") in rooms.BOOKED_VS_USED.sql
    assert released.format("e.") in queries.ROOMS_OF_DAY
    assert released.format("e.") in queries.NO_SHOWS_OF_DAY
