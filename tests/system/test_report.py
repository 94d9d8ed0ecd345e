"""``smartcomplex report`` on the Friday the day scenario played (tests/system/friday.py), read as a sub-district
review would read it: its CSV files and its workbook checked for content against the ground truth and the database,
and against Grafana's panels over the same day.

The report reads the copy on the simulated clock (``retimed_dsn``), as it would read a production database. Where
the truth and the system may differ by design, the test says which it follows: served tickets are the queues' (a few
tickets the plan served are still waiting at closing, see test_dashboard_queries.py), and a booking ended early
holds its room only until it was ended (the product's and Grafana's definition of booked).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest

from dashboards.grafana import rooms, windows
from dashboards.grafana.macros import QueryContext, expand
from dashboards.reports.period import day_bounds
from tests.system.friday import FridayRun

pytestmark = pytest.mark.system

SMARTCOMPLEX = str(Path(sys.executable).with_name("smartcomplex"))
TABLES = (
    "summary",
    "utilisation_daily",
    "utilisation_rooms",
    "no_shows",
    "no_show_rooms",
    "waits_daily",
    "waits_services",
    "waits_windows",
    "served_by_hour",
)
CHARTS = ("utilisation.png", "waits.png", "served_per_day.png", "served_by_hour.png")
QUARTER = timedelta(minutes=15)


@dataclass(frozen=True)
class FridayReport:
    day: str  # the Friday's local date, YYYY-MM-DD
    out_dir: Path
    stdout: str
    stderr: str
    csv: dict[str, pd.DataFrame]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _report_command(dsn: str, day: str, out_dir: Path, *sites: str) -> subprocess.CompletedProcess[str]:
    site_args = [arg for site in sites for arg in ("--site", site)]
    command = [SMARTCOMPLEX, "report", *site_args, "--from", day, "--to", day, "--database-url", dsn]
    return subprocess.run([*command, "--out", str(out_dir)], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(friday: FridayRun, tmp_path_factory: pytest.TempPathFactory) -> FridayReport:
    day = str(friday.truth["day"])
    out_dir = tmp_path_factory.mktemp("report") / "friday"
    done = _report_command(friday.retimed_dsn, day, out_dir, "all")
    assert done.returncode == 0, done.stderr
    csv = {name: pd.read_csv(out_dir / f"{name}.csv", encoding="utf-8-sig") for name in TABLES}
    return FridayReport(day=day, out_dir=out_dir, stdout=done.stdout, stderr=done.stderr, csv=csv)


@pytest.fixture(scope="module")
def connection(friday: FridayRun) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(friday.retimed_dsn, autocommit=True) as conn:
        yield conn


def test_the_report_shows_its_progress_and_lists_every_file_it_wrote(report: FridayReport) -> None:
    assert f"report: day 1/1 ({report.day})" in report.stderr.splitlines()
    listed = [Path(line.strip()) for line in report.stdout.splitlines() if line.startswith("  /")]
    expected = [report.out_dir / f"{name}.csv" for name in TABLES]
    expected += [report.out_dir / "report.xlsx", *(report.out_dir / chart for chart in CHARTS)]
    assert listed == expected
    assert all(path.is_file() for path in listed)
    assert all((report.out_dir / f"{name}.csv").read_bytes().startswith(b"\xef\xbb\xbf") for name in TABLES)


def test_tickets_issued_per_service_are_the_truths_tickets(friday: FridayRun, report: FridayReport) -> None:
    truth = Counter((str(t["site"]), str(t["service"])) for t in friday.truth["tickets"])
    services = report.csv["waits_services"]
    issued = {(site, service): n for site, service, n in services[["site", "service_id", "issued"]].itertuples(False)}
    assert {key: n for key, n in issued.items() if n} == dict(truth)
    daily = report.csv["waits_daily"].drop(columns="date")
    pd.testing.assert_frame_equal(daily, services)  # one day: the day is the period


def test_served_and_no_shows_are_the_queues_and_about_the_truths(
    friday: FridayRun, report: FridayReport, connection: psycopg.Connection[tuple[Any, ...]]
) -> None:
    stored = {
        (str(site), str(service)): (int(done), int(no_show))
        for site, service, done, no_show in connection.execute(
            "SELECT site_id, service_id, count(*) FILTER (WHERE status = 'done'),"
            " count(*) FILTER (WHERE status = 'no_show') FROM queue_ticket WHERE day = %s GROUP BY 1, 2",
            (report.day,),
        )
    }
    services = report.csv["waits_services"].set_index(["site", "service_id"])
    for key, (done, no_show) in stored.items():
        assert (services.loc[key, "served"], services.loc[key, "no_shows"]) == (done, no_show), key
    served_in_truth = sum(1 for t in friday.truth["tickets"] if t["outcome"] == "served")
    every = report.csv["summary"].set_index("site").loc["all"]
    assert every["tickets_served"] == services["served"].sum()
    assert 0.95 * served_in_truth <= every["tickets_served"] <= served_in_truth


def test_no_shows_released_are_the_databases_releases_and_cover_the_truths_no_shows(
    friday: FridayRun, report: FridayReport, connection: psycopg.Connection[tuple[Any, ...]]
) -> None:
    """Every release the policy made is listed, undone as the database says; every no-show of the truth was
    released (the release scoring asserts it too), and only bookings nobody had come to by then: no-shows and late
    arrivals (whose release is undone when they arrive within the undo window, and may stand otherwise)."""
    row = connection.execute(
        "SELECT count(*) FROM booking_event WHERE kind = 'released' AND mode = 'enforce'"
    ).fetchone()
    assert row is not None
    no_shows = report.csv["no_shows"]
    assert len(no_shows) == row[0] > 0
    undone_in_db = {int(b) for (b,) in connection.execute("SELECT booking_id FROM booking_event WHERE kind = 'undone'")}
    assert no_shows["undone"].tolist() == [int(b) in undone_in_db for b in no_shows["booking_id"]]
    zone = ZoneInfo(str(friday.truth["timezone"]))
    outcomes = {
        (str(b["site"]), str(b["space"]), _instant(b["start"]).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")): str(
            b["outcome"]
        )
        for b in friday.truth["bookings"]
    }
    released = [tuple(key) for key in no_shows[["site", "room_id", "booked_from"]].itertuples(index=False)]
    assert {key for key, outcome in outcomes.items() if outcome == "no_show"} <= set(released)
    assert {outcomes[key] for key in released if key in outcomes} <= {"no_show", "late"}
    # Anything else released was a waitlist offer somebody accepted and did not come to.
    offers = {int(b) for (b,) in connection.execute("SELECT id FROM booking WHERE released_from IS NOT NULL")}
    others = {int(b) for key, b in zip(released, no_shows["booking_id"], strict=True) if key not in outcomes}
    assert others <= offers
    per_room = report.csv["no_show_rooms"].set_index(["site", "room_id"])
    assert per_room["released"].sum() == len(no_shows)
    assert per_room["undone"].sum() == no_shows["undone"].sum()
    utilisation = report.csv["utilisation_rooms"].set_index(["site", "room_id"])
    assert (utilisation["no_shows_released"] == per_room.loc[utilisation.index, "released"]).all()


def _quarters(start: datetime, end: datetime) -> Iterator[datetime]:
    slot = start.replace(minute=start.minute // 15 * 15, second=0, microsecond=0)
    while slot < end:
        yield slot
        slot += QUARTER


def test_booked_hours_per_room_are_the_truths_bookings(
    friday: FridayRun, report: FridayReport, connection: psycopg.Connection[tuple[Any, ...]]
) -> None:
    """The truth's bookings (all entered through the API, released no-shows included: they did book the room) on
    the 15-minute grid; a booking the system ended early holds its room until it was ended, and an accepted
    waitlist offer is a booking too."""
    ended = {
        str(ref): upper
        for ref, upper in connection.execute(
            "SELECT external_ref, upper(during) FROM booking WHERE status = 'ended' AND external_ref IS NOT NULL"
        )
    }
    slots = set()
    for booking in friday.truth["bookings"]:
        end = ended.get(str(booking["id"]), _instant(booking["end"]))
        slots |= {(booking["site"], booking["space"], s) for s in _quarters(_instant(booking["start"]), end)}
    for site, space, start, end in connection.execute(
        "SELECT site_id, space_id, lower(during), upper(during) FROM booking"
        " WHERE released_from IS NOT NULL AND status NOT IN ('held', 'expired', 'withdrawn', 'cancelled')"
    ):
        slots |= {(site, space, s) for s in _quarters(start, end)}
    expected = Counter((site, space) for site, space, _ in slots)
    utilisation = report.csv["utilisation_rooms"]
    got = {(site, room): hours for site, room, hours in utilisation[["site", "room_id", "booked_hours"]].values}
    assert got == {key: expected.get(key, 0) / 4 for key in got}
    assert set(expected) <= set(got)
    assert (utilisation["used_of_booked_hours"] <= utilisation["booked_hours"]).all()


def test_the_report_agrees_with_grafanas_panels_over_the_same_day(
    friday: FridayRun, report: FridayReport, connection: psycopg.Connection[tuple[Any, ...]]
) -> None:
    start, end = day_bounds(datetime.fromisoformat(report.day).date(), str(friday.truth["timezone"]))
    bookable = connection.execute("SELECT site_id, space_id FROM space_catalogue WHERE bookable").fetchall()
    variables = {
        "site": [str(site) for (site,) in connection.execute("SELECT site_id FROM site_catalogue")],
        "room": [f"{site}/{space}" for site, space in bookable],
    }
    context = QueryContext(time_from=start, time_to=end, variables=variables)
    for panel, table, key in (
        (rooms.BOOKED_VS_USED, "utilisation_rooms", ["site", "room"]),
        (windows.PER_SERVICE, "waits_services", ["site", "service"]),
    ):
        cursor = connection.execute(expand(panel.sql, context).encode())
        columns = [column.name for column in cursor.description or ()]
        grafana = pd.DataFrame(cursor.fetchall(), columns=columns).set_index(key).sort_index()
        ours = report.csv[table].set_index(key).sort_index()[grafana.columns]
        pd.testing.assert_frame_equal(ours, grafana, check_dtype=False, obj=f"{table} against {panel.title!r}")


def test_every_sheet_of_the_workbook_is_its_csv_file(report: FridayReport) -> None:
    sheets = pd.read_excel(report.out_dir / "report.xlsx", sheet_name=None)
    assert tuple(sheets) == TABLES
    for name, sheet in sheets.items():
        csv = report.csv[name].copy()
        for column in sheet.columns:
            if pd.api.types.is_datetime64_any_dtype(sheet[column]):  # dates are dates in Excel, text in a CSV
                csv[column] = pd.to_datetime(csv[column])
        pd.testing.assert_frame_equal(sheet, csv, check_dtype=False, obj=name)
    assert len(sheets["utilisation_rooms"]) == len(sheets["utilisation_daily"]) >= 7
    assert len(sheets["no_shows"]) > 0


def test_the_charts_are_png_images(report: FridayReport) -> None:
    for chart in CHARTS:
        data = (report.out_dir / chart).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), chart
        assert len(data) > 10_000, chart


def test_an_unknown_site_is_refused_with_one_line_and_status_2(
    friday: FridayRun, report: FridayReport, tmp_path: Path
) -> None:
    done = _report_command(friday.retimed_dsn, report.day, tmp_path / "out", "complex,nowhere")
    assert done.returncode == 2
    assert done.stderr.startswith("smartcomplex: no site 'nowhere' in the site catalogue (sites: affairs-center,")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()
