"""The report's period and sites: local dates as typed, the days they span, the sites asked for, local days' UTC
bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dashboards.reports.errors import ReportInputError
from dashboards.reports.period import (
    ReportPeriod,
    day_bounds,
    default_out_dir,
    parse_local_date,
    parse_site_arguments,
    resolve_sites,
    sites_by_timezone,
)


def test_a_month_spans_its_days_with_the_last_included() -> None:
    period = ReportPeriod.parse("2026-11-01", "2026-11-30")
    assert len(period.days) == 30
    assert (period.days[0], period.days[-1]) == (date(2026, 11, 1), date(2026, 11, 30))
    assert str(period) == "2026-11-01 to 2026-11-30"


def test_one_day_is_a_period() -> None:
    period = ReportPeriod.parse("2026-12-04", "2026-12-04")
    assert period.days == (date(2026, 12, 4),)
    assert str(period) == "2026-12-04"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2026-13-01", "is not a day of the calendar"),
        ("2026-02-30", "is not a day of the calendar"),
        ("20261101", "is not a date (YYYY-MM-DD)"),
        ("2026-W48-1", "is not a date (YYYY-MM-DD)"),
        ("1/11/2026", "is not a date (YYYY-MM-DD)"),
        ("", "is not a date (YYYY-MM-DD)"),
    ],
)
def test_a_bad_date_is_refused_naming_the_option(text: str, problem: str) -> None:
    with pytest.raises(ReportInputError) as refused:
        parse_local_date(text, option="--to")
    assert str(refused.value) == f"--to {text!r} {problem}"


def test_from_after_to_is_refused() -> None:
    with pytest.raises(ReportInputError, match="--from 2026-12-05 is after --to 2026-12-04"):
        ReportPeriod.parse("2026-12-05", "2026-12-04")


def test_a_shanghai_day_starts_at_16_utc_the_day_before() -> None:
    start, end = day_bounds(date(2026, 11, 1), "Asia/Shanghai")
    assert start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 11, 1, 16, tzinfo=UTC)


def test_a_daylight_saving_day_has_23_hours_on_the_15_minute_grid() -> None:
    start, end = day_bounds(date(2026, 3, 29), "Europe/Berlin")
    assert (end - start).total_seconds() == 23 * 3600
    assert start.minute % 15 == 0
    assert end.minute % 15 == 0


def test_an_unknown_time_zone_is_an_input_error() -> None:
    with pytest.raises(ReportInputError, match="unknown time zone 'Mars/Olympus'"):
        day_bounds(date(2026, 11, 1), "Mars/Olympus")


def test_sites_come_repeated_or_as_a_comma_list_each_once_in_order() -> None:
    assert parse_site_arguments(["complex,affairs-center", " enterprise-center ", "complex"]) == (
        "complex",
        "affairs-center",
        "enterprise-center",
    )


def test_all_means_every_site() -> None:
    assert parse_site_arguments(["all"]) is None
    assert parse_site_arguments(["complex", "all"]) is None


def test_no_site_at_all_is_refused() -> None:
    with pytest.raises(ReportInputError, match="--site names no site"):
        parse_site_arguments([" , "])


CATALOGUE = {"complex": True, "affairs-center": True, "old-station": False}


def test_all_is_every_site_of_the_site_file_and_a_retired_one_may_be_named() -> None:
    assert resolve_sites(None, CATALOGUE) == ("affairs-center", "complex")
    assert resolve_sites(("old-station",), CATALOGUE) == ("old-station",)


def test_an_unknown_site_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ReportInputError) as refused:
        resolve_sites(("complex", "nowhere"), CATALOGUE)
    assert str(refused.value) == (
        "no site 'nowhere' in the site catalogue (sites: affairs-center, complex, old-station)"
    )


def test_an_empty_catalogue_says_how_to_fill_it() -> None:
    with pytest.raises(ReportInputError, match="smartcomplex db migrate"):
        resolve_sites(None, {})


def test_sites_are_grouped_by_time_zone() -> None:
    zones = {"complex": "Asia/Shanghai", "affairs-center": "Asia/Shanghai", "far": "Europe/Berlin"}
    assert sites_by_timezone(["complex", "far", "affairs-center"], zones) == {
        "Asia/Shanghai": ("complex", "affairs-center"),
        "Europe/Berlin": ("far",),
    }


def test_the_default_directory_names_the_belt_or_the_sites_and_the_dates() -> None:
    month = ReportPeriod.parse("2026-11-01", "2026-11-30")
    assert default_out_dir(None, month) == Path("reports/belt-2026-11-01-2026-11-30")
    assert default_out_dir(("complex",), month) == Path("reports/complex-2026-11-01-2026-11-30")
    assert default_out_dir(("complex", "affairs-center"), month) == Path(
        "reports/complex+affairs-center-2026-11-01-2026-11-30"
    )
