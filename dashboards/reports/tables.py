"""The report's tables built from the rows the queries give, with pandas: days stacked, totals per room, service
and site, shares and rates. Pure: DataFrames in, DataFrames out.

Shares are percentages to one decimal, as Grafana shows them, and empty (NaN) where there is nothing to divide by.
Medians and 90th percentiles cannot be added up: totals over the period come from their own queries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd  # type: ignore[import-untyped]

ROOM_KEYS = ["site", "room_id", "room"]
ROOM_HOURS = ["booked_hours", "used_of_booked_hours", "unbooked_use_hours"]
DECISIONS = ["released", "undone", "would_release", "shadow_false_release", "ended_early"]
SERVICE_COUNTS = ["issued", "served", "no_shows", "served_with_estimate", "served_within_estimate"]
MINUTES = ["median_wait_min", "p90_wait_min", "median_service_min"]

UTILISATION_COLUMNS = [
    *ROOM_KEYS,
    "booked_hours",
    "used_of_booked_hours",
    "used_percent",
    "unbooked_use_hours",
    "no_shows_released",
]
WAITS_COLUMNS = ["site", "service_id", "service", *SERVICE_COUNTS[:3], *MINUTES, *SERVICE_COUNTS[3:], "within_percent"]
NO_SHOW_ROOM_COLUMNS = [
    *ROOM_KEYS,
    "released",
    "undone",
    "false_release_percent",
    "would_release",
    "shadow_false_release",
    "shadow_false_release_percent",
    "ended_early",
]


def _percent_of(part: float, whole: float) -> float:
    if math.isnan(part) or math.isnan(whole) or whole == 0:
        return math.nan
    # In decimal, halves away from zero: PostgreSQL's round(numeric, 1), which Grafana's panels use (binary
    # floats with pandas' round would give 6.2 for 1 of 16, PostgreSQL 6.3).
    share = Decimal(part) * 100 / Decimal(whole)
    return float(share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def percent(part: pd.Series, whole: pd.Series) -> pd.Series:
    """100 * part / whole to one decimal, as PostgreSQL rounds; NaN where whole is 0."""
    values = [_percent_of(float(p), float(w)) for p, w in zip(part, whole, strict=True)]
    return pd.Series(values, index=part.index, dtype="float64")


def _typed(frame: pd.DataFrame, *, counts: Sequence[str] = (), measures: Sequence[str] = ()) -> pd.DataFrame:
    """Counts as integers (missing: 0) and measures as floats (missing: NaN), whatever the rows held (a day
    without tickets gives NULL medians, which pandas would keep as objects)."""
    frame = frame.copy()
    for column in counts:
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    for column in measures:
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    return frame


def stack_days(days: Sequence[tuple[date, pd.DataFrame]]) -> pd.DataFrame:
    """The rows of each day with a leading ``date`` column, oldest day first. Every day's frame has the same
    columns (one query's), also when it has no rows; ``days`` is never empty (a period has a day)."""
    if not days:
        raise ValueError("no days to stack")
    columns = ["date", *days[0][1].columns]
    frames = [frame.assign(date=day) for day, frame in days if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def utilisation_daily(stacked: pd.DataFrame) -> pd.DataFrame:
    """Per room and day: booked, used-of-booked and unbooked use hours, the used share, no-shows released."""
    frame = _typed(stacked, counts=["no_shows_released"], measures=ROOM_HOURS)
    frame["used_percent"] = percent(frame["used_of_booked_hours"], frame["booked_hours"])
    return frame[["date", *UTILISATION_COLUMNS]].sort_values(["date", "site", "room"], ignore_index=True)


def utilisation_rooms(daily: pd.DataFrame) -> pd.DataFrame:
    """Per room over the period: the daily figures added up, the used share of the sums."""
    totals = daily.groupby(ROOM_KEYS, as_index=False, sort=True)[[*ROOM_HOURS, "no_shows_released"]].sum()
    totals = _typed(totals, counts=["no_shows_released"], measures=ROOM_HOURS)
    totals["used_percent"] = percent(totals["used_of_booked_hours"], totals["booked_hours"])
    return totals[UTILISATION_COLUMNS].sort_values(["site", "room"], ignore_index=True)


def no_shows(stacked: pd.DataFrame) -> pd.DataFrame:
    """Every no-show released, in the order released (the ``date`` the day of the release)."""
    frame = stacked.copy()
    frame["booking_id"] = pd.to_numeric(frame["booking_id"]).astype("int64")
    frame["undone"] = frame["undone"].astype("bool")
    return frame.reset_index(drop=True)


def no_show_rooms(decisions: pd.DataFrame, rooms: pd.DataFrame) -> pd.DataFrame:
    """Per room over the period: the release decisions added up (every room of ``rooms``, decisions or not) and
    the false-release rates, enforced (undone of released) and shadow (false of would-release)."""
    totals = _typed(decisions, counts=DECISIONS).groupby(["site", "room_id"], as_index=False)[DECISIONS].sum()
    merged = rooms[ROOM_KEYS].drop_duplicates().merge(totals, on=["site", "room_id"], how="outer")
    merged["room"] = merged["room"].fillna(merged["room_id"])
    merged = _typed(merged, counts=DECISIONS)
    merged["false_release_percent"] = percent(merged["undone"], merged["released"])
    merged["shadow_false_release_percent"] = percent(merged["shadow_false_release"], merged["would_release"])
    return merged[NO_SHOW_ROOM_COLUMNS].sort_values(["site", "room"], ignore_index=True)


def waits(frame: pd.DataFrame, *, daily: bool) -> pd.DataFrame:
    """Per service (and day when ``daily``): tickets, waits, service times, the share served inside the shown
    estimate."""
    typed = _typed(frame, counts=SERVICE_COUNTS, measures=MINUTES)
    typed["within_percent"] = percent(typed["served_within_estimate"], typed["served_with_estimate"])
    keys = ["date", "site", "service"] if daily else ["site", "service"]
    columns = ["date", *WAITS_COLUMNS] if daily else WAITS_COLUMNS
    return typed[columns].sort_values(keys, ignore_index=True)


def windows(frame: pd.DataFrame) -> pd.DataFrame:
    """Per window over the period: tickets called, served, no-shows; median service and wait."""
    typed = _typed(frame, counts=["called", "served", "no_shows"], measures=["median_service_min", "median_wait_min"])
    return typed.sort_values(["site", "window"], ignore_index=True)


def served_by_hour(frame: pd.DataFrame) -> pd.DataFrame:
    """Tickets served per site and local hour of the day, over the period."""
    return _typed(frame, counts=["hour", "served"]).sort_values(["site", "hour"], ignore_index=True)


def served_per_day(waits_daily: pd.DataFrame) -> pd.DataFrame:
    """Tickets served per day (rows) and site (columns), for the chart."""
    if waits_daily.empty:
        return pd.DataFrame()
    return waits_daily.pivot_table(index="date", columns="site", values="served", aggfunc="sum", fill_value=0)


def summary(
    sites: pd.DataFrame,
    rooms: pd.DataFrame,
    release_rooms: pd.DataFrame,
    services: pd.DataFrame,
    site_waits: pd.DataFrame,
    *,
    first: date,
    last: date,
) -> pd.DataFrame:
    """One row per site of ``sites`` (``site``, ``name``, ``timezone``) and one for them all (``site`` 'all'): the
    period's key figures."""
    room_sums = rooms.groupby("site")[[*ROOM_HOURS, "no_shows_released"]].sum()
    room_sums["bookable_rooms"] = rooms.groupby("site").size()
    undone = release_rooms.groupby("site")["undone"].sum().rename("releases_undone")
    ticket_sums = services.groupby("site")[SERVICE_COUNTS].sum()
    per_site = sites[["site", "name", "timezone"]].set_index("site").join([room_sums, undone, ticket_sums])
    every = per_site.drop(columns=["name", "timezone"]).sum().to_frame().T
    every.index = pd.Index(["all"], name="site")
    every.insert(0, "name", "All sites reported")
    every.insert(1, "timezone", ", ".join(sorted(set(sites["timezone"]))))
    table = pd.concat([per_site, every]).reset_index(names="site")
    # A site without bookable rooms had 0 hours of them; only its used share is undefined.
    table[ROOM_HOURS] = table[ROOM_HOURS].fillna(0.0)
    table = _typed(
        table, counts=["bookable_rooms", "no_shows_released", "releases_undone", *SERVICE_COUNTS], measures=ROOM_HOURS
    )
    waits_by_site = site_waits.assign(site=site_waits["site"].fillna("all"))
    table = table.merge(waits_by_site[["site", "median_wait_min", "p90_wait_min"]], on="site", how="left")
    table = _typed(table, measures=["median_wait_min", "p90_wait_min"])
    table["used_percent"] = percent(table["used_of_booked_hours"], table["booked_hours"])
    table["within_percent"] = percent(table["served_within_estimate"], table["served_with_estimate"])
    table["from"] = first
    table["to"] = last
    return table[
        [
            "site",
            "name",
            "from",
            "to",
            "timezone",
            "bookable_rooms",
            *ROOM_HOURS[:2],
            "used_percent",
            ROOM_HOURS[2],
            "no_shows_released",
            "releases_undone",
            "issued",
            "served",
            "no_shows",
            "median_wait_min",
            "p90_wait_min",
            "within_percent",
        ]
    ].rename(columns={"issued": "tickets_issued", "served": "tickets_served", "no_shows": "ticket_no_shows"})
