"""``smartcomplex report --site ... --from ... --to ...``: the report as a command.

Progress goes to stderr, one line a day (``report: day 12/30 (2026-11-12)``); the figures and the files written go
to stdout. A bad date, ``--from`` after ``--to`` or a site the catalogue lacks ends with one line and exit status
2; a database that cannot be reached or read, or files that cannot be written, with exit status 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboards.reports.errors import ReportDatabaseError, ReportInputError
from dashboards.reports.period import ReportPeriod, parse_site_arguments
from dashboards.reports.runner import ReportRun, run_report


class ReportSettings(BaseSettings):
    """The report's one setting from the environment, SC_DATABASE_URL (the server's variable and default)."""

    model_config = SettingsConfigDict(env_prefix="SC_", frozen=True)

    database_url: str = Field(
        default="host=127.0.0.1 port=5432 user=postgres dbname=smartcomplex", description="libpq conninfo or URL"
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _figure(value: float, unit: str = "") -> str:
    number = float(value)
    if math.isnan(number):
        return "-"
    text = f"{number:.0f}" if number.is_integer() else f"{number:.1f}"
    return f"{text}{unit}"


def describe_run(run: ReportRun) -> str:
    """What the report found over every site, and the files it wrote, one a line."""
    total = run.tables.summary.set_index("site").loc["all"]
    days = len(run.period.days)
    lines = [
        f"report: {', '.join(run.sites)}; {run.period} ({days} day{'s' if days != 1 else ''}, "
        f"local time {total['timezone']})",
        f"  rooms: {_figure(total['bookable_rooms'])} bookable, {_figure(total['booked_hours'], ' h')} booked, "
        f"{_figure(total['used_percent'], ' %')} of it used, {_figure(total['unbooked_use_hours'], ' h')} used "
        f"without a booking, {_figure(total['no_shows_released'])} no-shows released "
        f"({_figure(total['releases_undone'])} undone)",
        f"  tickets: {_figure(total['tickets_issued'])} issued, {_figure(total['tickets_served'])} served, "
        f"{_figure(total['ticket_no_shows'])} no-shows; wait median {_figure(total['median_wait_min'], ' min')}, "
        f"90th percentile {_figure(total['p90_wait_min'], ' min')}; "
        f"{_figure(total['within_percent'], ' %')} served inside the shown estimate",
        f"wrote {len(run.files)} files in {run.out_dir}:",
        *(f"  {path}" for path in run.files),
    ]
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    settings = ReportSettings() if args.database_url is None else ReportSettings(database_url=args.database_url)
    try:
        period = ReportPeriod.parse(args.first, args.last)
        requested = parse_site_arguments(args.site)
        run = run_report(settings.database_url, requested, period, out_dir=args.out, progress=_progress)
    except ReportInputError as exc:
        print(f"smartcomplex: {exc}", file=sys.stderr)
        return 2
    except ReportDatabaseError as exc:
        print(f"smartcomplex: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"smartcomplex: cannot write the report: {exc}", file=sys.stderr)
        return 1
    print(describe_run(run))
    return 0


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers ``report`` on the top-level ``smartcomplex`` commands."""
    report = commands.add_parser(
        "report",
        help="rooms' utilisation, no-shows and waits of sites over local dates: CSV, an Excel workbook, PNG charts",
        description="Utilisation of the bookable rooms, no-shows released and waits at the service windows, per "
        "day and over the period, from the database: CSV files (UTF-8 with BOM), one Excel workbook and PNG charts.",
    )
    report.add_argument(
        "--site",
        action="append",
        required=True,
        metavar="SITE",
        help="site id (repeatable, or a comma list); 'all': every site of the site catalogue",
    )
    report.add_argument(
        "--from", dest="first", required=True, metavar="YYYY-MM-DD", help="first local date (the belt's time zone)"
    )
    report.add_argument("--to", dest="last", required=True, metavar="YYYY-MM-DD", help="last local date, included")
    report.add_argument(
        "--out", type=Path, default=None, help="directory to write to; default reports/<site or belt>-<from>-<to>/"
    )
    report.add_argument("--database-url", default=None, help="libpq conninfo; default SC_DATABASE_URL")
    report.set_defaults(handler=cmd_report)
