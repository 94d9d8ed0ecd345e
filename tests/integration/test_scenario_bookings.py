"""The scenario's day booked through the real API over HTTP (uvicorn in a thread, real PostgreSQL, scheduler off):
every planned booking for its organiser with the truth's id as external_ref, competitors refused and waitlisted,
the server's clock anchored at the scenario's start, and a second run that creates nothing new."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest
import uvicorn

from devices.clock_anchor import read_clock_anchor
from devices.site import load_belt
from server.app import create_app
from server.db.accounts_bootstrap import ensure_admin_token
from server.db.migrate import apply_migrations
from server.demo.services import free_port
from server.settings import ServerSettings
from simulators.scenario.booking_client import BookingApi, start_day_through_api
from simulators.scenario.booking_entry import EntryReport, competitors, organiser_login
from simulators.scenario.plan import ScenarioPlan, build_plan
from simulators.scenario.timeline import local_instant
from tests.waiting import wait_until

FRIDAY = date(2026, 12, 4)
SPEED = 60.0
LEAD_IN_S = 120.0  # the server's clock stays two simulated hours before the day while the bookings go in


@pytest.fixture
def api_url(pg_dsn: str, tmp_path: Path) -> Iterator[str]:
    """The real app served over HTTP on a free port, on the simulated clock the scenario anchors."""
    apply_migrations(pg_dsn)
    settings = ServerSettings(
        database_url=pg_dsn,
        ingest_enabled=False,
        commands_enabled=False,
        scheduler_enabled=False,
        simulated_clock_file=tmp_path / "clock.json",
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, belt=load_belt()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=20, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def plan() -> ScenarioPlan:
    belt = load_belt()
    return build_plan(belt, site_ids=[], day=FRIDAY, seed=7, begin=local_instant(FRIDAY, 8 * 60, belt.tz))


def enter_day(plan: ScenarioPlan, api: BookingApi) -> EntryReport:
    _origin, report = start_day_through_api(
        plan, api, day_start=plan.begin, speed=SPEED, until=None, lead_in_s=LEAD_IN_S, stop=threading.Event()
    )
    return report


def stored(dsn: str) -> tuple[set[tuple[str, str, datetime, datetime, str, int]], set[tuple[str, datetime, datetime]]]:
    with psycopg.connect(dsn) as connection:
        bookings = connection.execute(
            "SELECT b.external_ref, a.login, lower(b.during), upper(b.during), b.status, b.attendees"
            " FROM booking b JOIN account a ON a.id = b.owner_id"
        ).fetchall()
        waiting = connection.execute(
            "SELECT a.login, lower(w.wanted), upper(w.wanted) FROM waitlist_entry w JOIN account a"
            " ON a.id = w.account_id WHERE w.status = 'waiting' AND w.min_minutes = 15"
        ).fetchall()
    return set(bookings), set(waiting)


def test_the_planned_day_is_booked_through_the_api_once(
    api_url: str, pg_dsn: str, plan: ScenarioPlan, tmp_path: Path
) -> None:
    api = BookingApi(url=api_url, token=ensure_admin_token(pg_dsn), clock_file=tmp_path / "clock.json")
    competing = competitors(plan)
    assert plan.bookings
    assert competing

    first = enter_day(plan, api)

    assert first == EntryReport(
        accounts_created=len(
            {organiser_login(b.organiser_kind, b.organiser_card) for b in plan.bookings} | set(competing.values())
        ),
        bookings_created=len(plan.bookings),
        competitors_refused=len(competing),
        waitlist_joined=len(competing),
    ), asdict(first)
    bookings, waiting = stored(pg_dsn)
    assert bookings == {
        (
            b.id,
            organiser_login(b.organiser_kind, b.organiser_card),
            b.start,
            b.end,
            "confirmed",
            max(1, b.attendees),
        )
        for b in plan.bookings
    }
    assert waiting == {(competing[b.id], b.start, b.end) for b in plan.bookings if b.id in competing}
    anchor = read_clock_anchor(api.clock_file)
    assert anchor is not None
    assert (anchor.simulated_start, anchor.speed) == (plan.begin, SPEED)

    second = enter_day(plan, api)

    assert second == EntryReport(
        bookings_existing=len(plan.bookings),
        competitors_refused=len(competing),
        waitlist_existing=len(competing),
    ), asdict(second)
    assert stored(pg_dsn) == (bookings, waiting)


def test_without_an_api_the_clock_is_still_anchored_and_the_day_starts_without_bookings(
    plan: ScenarioPlan, tmp_path: Path
) -> None:
    api = BookingApi(url=f"http://127.0.0.1:{free_port()}", token="unused", clock_file=tmp_path / "clock.json")

    _origin, report = start_day_through_api(
        plan, api, day_start=plan.begin, speed=SPEED, until=None, lead_in_s=1.0, stop=threading.Event(), api_wait_s=1
    )

    assert report == EntryReport()
    anchor = read_clock_anchor(api.clock_file)
    assert anchor is not None
    assert anchor.simulated_start == plan.begin
