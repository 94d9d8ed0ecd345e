"""The report's tables from small DataFrames shaped like the queries' rows: days stacked, totals, shares, rates and
the summary."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from dashboards.reports import tables

DAY_1, DAY_2 = date(2026, 11, 2), date(2026, 11, 3)
ROOM_COLUMNS = ["site", "room_id", "room", "booked_hours", "used_of_booked_hours", "unbooked_use_hours"]


def rooms_of_day(*rows: tuple[str, str, str, float, float, float, int]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=[*ROOM_COLUMNS, "no_shows_released"])


def services_of_day(*rows: tuple[object, ...]) -> pd.DataFrame:
    columns = ["site", "service_id", "service", *tables.SERVICE_COUNTS[:3], *tables.MINUTES, *tables.SERVICE_COUNTS[3:]]
    return pd.DataFrame(list(rows), columns=columns)


def daily_rooms() -> pd.DataFrame:
    stacked = tables.stack_days(
        [
            (
                DAY_1,
                rooms_of_day(
                    ("complex", "hall", "Hall", 4.0, 3.0, 0.5, 1), ("complex", "school", "School", 0, 0, 1, 0)
                ),
            ),
            (
                DAY_2,
                rooms_of_day(
                    ("complex", "hall", "Hall", 2.0, 0.0, 0.0, 1), ("complex", "school", "School", 0, 0, 0, 0)
                ),
            ),
        ]
    )
    return tables.utilisation_daily(stacked)


def test_shares_round_half_away_from_zero_as_postgresql_and_grafana_do() -> None:
    shares = tables.percent(pd.Series([1, 1, 2, 0, 3]), pd.Series([16, 3, 3, 0, 0]))
    assert shares.tolist()[:3] == [6.3, 33.3, 66.7]
    assert shares[3:].isna().all()


def test_days_are_stacked_with_their_date_first() -> None:
    daily = daily_rooms()
    assert list(daily.columns) == ["date", *tables.UTILISATION_COLUMNS]
    assert daily["date"].tolist() == [DAY_1, DAY_1, DAY_2, DAY_2]


def test_days_without_rows_stack_to_the_columns_alone() -> None:
    stacked = tables.stack_days([(DAY_1, rooms_of_day()), (DAY_2, rooms_of_day())])
    assert stacked.empty
    assert list(stacked.columns) == ["date", *ROOM_COLUMNS, "no_shows_released"]


def test_the_used_share_is_of_the_booked_hours_and_empty_when_nothing_was_booked() -> None:
    shares = daily_rooms()["used_percent"].tolist()
    assert shares[0] == 75.0
    assert math.isnan(shares[1])
    assert shares[2] == 0.0


def test_room_totals_add_the_days_up_and_take_the_share_of_the_sums() -> None:
    rooms = tables.utilisation_rooms(daily_rooms()).set_index("room_id")
    assert rooms.loc["hall", "booked_hours"] == 6.0
    assert rooms.loc["hall", "used_of_booked_hours"] == 3.0
    assert rooms.loc["hall", "used_percent"] == 50.0  # not the mean of 75 % and 0 %
    assert rooms.loc["hall", "no_shows_released"] == 2
    assert rooms.loc["school", "unbooked_use_hours"] == 1.0
    assert math.isnan(rooms.loc["school", "used_percent"])


def test_release_rates_per_room_are_enforced_and_shadow_and_every_room_is_listed() -> None:
    decisions = tables.stack_days(
        [
            (DAY_1, pd.DataFrame([("complex", "hall", 3, 1, 0, 0, 0)], columns=["site", "room_id", *tables.DECISIONS])),
            (DAY_2, pd.DataFrame([("complex", "hall", 1, 0, 4, 1, 2)], columns=["site", "room_id", *tables.DECISIONS])),
        ]
    )
    table = tables.no_show_rooms(decisions, tables.utilisation_rooms(daily_rooms()))
    assert list(table.columns) == tables.NO_SHOW_ROOM_COLUMNS
    rates = table.set_index("room_id")
    hall = rates.loc["hall"]
    assert (hall["released"], hall["undone"], hall["false_release_percent"]) == (4, 1, 25.0)
    assert (hall["would_release"], hall["shadow_false_release"], hall["shadow_false_release_percent"]) == (4, 1, 25.0)
    assert hall["ended_early"] == 2
    school = rates.loc["school"]
    assert school["released"] == 0
    assert math.isnan(school["false_release_percent"])


def test_waits_get_the_share_served_inside_the_estimate_and_null_medians_become_nan() -> None:
    frame = services_of_day(
        ("complex", "culture", "Culture", 10, 8, 1, 4.0, 12.5, 6.0, 8, 6),
        ("complex", "volunteer", "Volunteer", 0, 0, 0, None, None, None, 0, 0),
    )
    waits = tables.waits(frame, daily=False).set_index("service_id")
    assert waits.loc["culture", "within_percent"] == 75.0
    assert math.isnan(waits.loc["volunteer", "median_wait_min"])
    assert math.isnan(waits.loc["volunteer", "within_percent"])
    assert waits["issued"].dtype == "int64"


def test_served_per_day_has_days_as_rows_and_sites_as_columns() -> None:
    daily = tables.waits(
        tables.stack_days(
            [
                (DAY_1, services_of_day(("complex", "culture", "Culture", 3, 2, 0, 1.0, 2.0, 3.0, 2, 2))),
                (DAY_2, services_of_day(("complex", "culture", "Culture", 5, 4, 0, 1.0, 2.0, 3.0, 4, 4))),
            ]
        ),
        daily=True,
    )
    per_day = tables.served_per_day(daily)
    assert per_day.loc[DAY_2, "complex"] == 4
    assert list(per_day.index) == [DAY_1, DAY_2]


def test_the_summary_has_a_row_per_site_and_one_for_all_with_shares_of_the_sums() -> None:
    sites = pd.DataFrame(
        [("affairs-center", "Affairs", "Asia/Shanghai"), ("complex", "Complex", "Asia/Shanghai")],
        columns=["site", "name", "timezone"],
    )
    rooms = tables.utilisation_rooms(daily_rooms())
    releases = tables.no_show_rooms(
        pd.DataFrame([("complex", "hall", 2, 1, 0, 0, 0)], columns=["site", "room_id", *tables.DECISIONS]), rooms
    )
    services = tables.waits(
        services_of_day(
            ("affairs-center", "civil", "Civil", 10, 9, 1, 2.0, 8.0, 7.0, 9, 9),
            ("complex", "culture", "Culture", 10, 8, 1, 4.0, 12.5, 6.0, 8, 6),
        ),
        daily=False,
    )
    site_waits = pd.DataFrame(
        [("affairs-center", 2.0, 8.0), ("complex", 4.0, 12.5), (None, 3.1, 11.0)],
        columns=["site", "median_wait_min", "p90_wait_min"],
    )
    summary = tables.summary(sites, rooms, releases, services, site_waits, first=DAY_1, last=DAY_2).set_index("site")
    assert list(summary.index) == ["affairs-center", "complex", "all"]
    affairs, every = summary.loc["affairs-center"], summary.loc["all"]
    assert (affairs["bookable_rooms"], affairs["booked_hours"]) == (0, 0.0)
    assert math.isnan(affairs["used_percent"])
    assert (every["bookable_rooms"], every["booked_hours"], every["used_percent"]) == (2, 6.0, 50.0)
    assert (every["no_shows_released"], every["releases_undone"]) == (2, 1)
    assert (every["tickets_issued"], every["tickets_served"], every["ticket_no_shows"]) == (20, 17, 2)
    assert every["within_percent"] == 88.2  # 15 of 17, not the mean of 100 % and 75 %
    assert (every["median_wait_min"], every["timezone"], every["from"], every["to"]) == (
        3.1,
        "Asia/Shanghai",
        DAY_1,
        DAY_2,
    )
