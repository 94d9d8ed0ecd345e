"""A report from start to end: the sites checked against the catalogue, the figures read day by day (each query
aggregates in SQL, so memory stays bounded by rooms and services times days, never by readings), the totals over the
period, then the tables, the workbook and the charts written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

from dashboards.reports import charts, queries, tables
from dashboards.reports.database import ReportDatabase, open_report_database
from dashboards.reports.period import ReportPeriod, day_bounds, default_out_dir, resolve_sites, sites_by_timezone
from dashboards.reports.workbook import ReportTable, write_tables

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ReportTables:
    """The report's tables, in the order of the workbook's sheets."""

    summary: pd.DataFrame
    utilisation_daily: pd.DataFrame
    utilisation_rooms: pd.DataFrame
    no_shows: pd.DataFrame
    no_show_rooms: pd.DataFrame
    waits_daily: pd.DataFrame
    waits_services: pd.DataFrame
    waits_windows: pd.DataFrame
    served_by_hour: pd.DataFrame

    def named(self) -> list[ReportTable]:
        return [ReportTable(field.name, getattr(self, field.name)) for field in fields(self)]


@dataclass(frozen=True, slots=True)
class ReportRun:
    sites: tuple[str, ...]
    period: ReportPeriod
    out_dir: Path
    tables: ReportTables
    files: tuple[Path, ...]


def _day_by_day(
    database: ReportDatabase, sites: pd.DataFrame, period: ReportPeriod, progress: Progress
) -> dict[str, list[tuple[date, pd.DataFrame]]]:
    """Each day's rows of the per-day queries. A day's bounds are local midnights of the sites' time zone (one
    zone for a belt; sites in several are queried per zone)."""
    groups = sites_by_timezone(list(sites["site"]), dict(zip(sites["site"], sites["timezone"], strict=True)))
    rows: dict[str, list[tuple[date, pd.DataFrame]]] = {"rooms": [], "no_shows": [], "decisions": [], "waits": []}
    days = period.days
    for number, day in enumerate(days, start=1):
        progress(f"report: day {number}/{len(days)} ({day})")
        for zone, members in groups.items():
            start, end = day_bounds(day, zone)
            params = {"sites": list(members), "start": start, "end": end, "tz": zone}
            rows["rooms"].append((day, database.frame(f"rooms on {day}", queries.ROOMS_OF_DAY, params)))
            rows["no_shows"].append((day, database.frame(f"no-shows on {day}", queries.NO_SHOWS_OF_DAY, params)))
            decisions = database.frame(f"release decisions on {day}", queries.RELEASE_DECISIONS_OF_DAY, params)
            rows["decisions"].append((day, decisions))
        params = {"sites": list(sites["site"]), "first": day, "last": day}
        rows["waits"].append((day, database.frame(f"waits on {day}", queries.SERVICES, params)))
    return rows


def gather_tables(
    database: ReportDatabase, sites: pd.DataFrame, period: ReportPeriod, progress: Progress
) -> ReportTables:
    """Every table of the report for ``sites`` (a frame of ``site``, ``name``, ``timezone``) over ``period``."""
    days = _day_by_day(database, sites, period, progress)
    progress("report: totals over the period")
    params = {"sites": list(sites["site"]), "first": period.first, "last": period.last}
    services = tables.waits(database.frame("waits over the period", queries.SERVICES, params), daily=False)
    site_waits = database.frame("waits per site", queries.SITE_WAITS, params)
    windows = tables.windows(database.frame("windows over the period", queries.WINDOWS, params))
    by_hour = tables.served_by_hour(database.frame("tickets served by hour", queries.SERVED_BY_HOUR, params))

    daily = tables.utilisation_daily(tables.stack_days(days["rooms"]))
    rooms = tables.utilisation_rooms(daily)
    no_shows = tables.no_shows(tables.stack_days(days["no_shows"]))
    release_rooms = tables.no_show_rooms(tables.stack_days(days["decisions"]), rooms)
    waits_daily = tables.waits(tables.stack_days(days["waits"]), daily=True)
    summary = tables.summary(sites, rooms, release_rooms, services, site_waits, first=period.first, last=period.last)
    return ReportTables(
        summary=summary,
        utilisation_daily=daily,
        utilisation_rooms=rooms,
        no_shows=no_shows,
        no_show_rooms=release_rooms,
        waits_daily=waits_daily,
        waits_services=services,
        waits_windows=windows,
        served_by_hour=by_hour,
    )


def write_report(report: ReportTables, out_dir: Path, *, caption: str) -> list[Path]:
    """The CSV files, the workbook and the charts in ``out_dir``; the paths written, in that order."""
    written = write_tables(report.named(), out_dir)
    written.append(charts.utilisation_chart(report.utilisation_rooms, out_dir / "utilisation.png", caption=caption))
    written.append(charts.waits_chart(report.waits_services, out_dir / "waits.png", caption=caption))
    per_day = tables.served_per_day(report.waits_daily)
    written.append(charts.served_per_day_chart(per_day, out_dir / "served_per_day.png", caption=caption))
    by_hour = out_dir / "served_by_hour.png"
    written.append(charts.served_by_hour_chart(report.served_by_hour, by_hour, caption=caption))
    return written


def run_report(
    conninfo: str,
    requested: tuple[str, ...] | None,
    period: ReportPeriod,
    *,
    out_dir: Path | None,
    progress: Progress,
) -> ReportRun:
    """The report of the sites ``requested`` (None: every site) over ``period``, written to ``out_dir`` (None:
    ``reports/<site or belt>-<from>-<to>``)."""
    with open_report_database(conninfo) as database:
        catalogue = database.frame("the site catalogue", queries.SITES)
        known = dict(zip(catalogue["site_id"], catalogue["in_site_file"].astype(bool), strict=True))
        sites = resolve_sites(requested, known)
        chosen = catalogue.rename(columns={"site_id": "site"}).set_index("site").loc[list(sites)].reset_index()
        report = gather_tables(database, chosen, period, progress)
    directory = out_dir if out_dir is not None else default_out_dir(requested, period)
    caption = f"{'belt' if requested is None else ', '.join(sites)}, {period}"
    files = write_report(report, directory, caption=caption)
    return ReportRun(sites=sites, period=period, out_dir=directory, tables=report, files=tuple(files))
