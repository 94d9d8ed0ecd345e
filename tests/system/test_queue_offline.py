"""The centre cut off for ten minutes during the day: the sites keep issuing and calling tickets, and afterwards the
centre's records match each site's, with no number issued twice.

The demo plays the ``uplink-cut`` scenario (the day, with every edge agent's link to the central broker cut through
a relay from 10:00 to 10:10 local time) from 09:00 for 90 simulated minutes at 120x. The proof that tickets were
issued and called *during* the cut is in the centre's own records: queue events whose queue time lies inside the cut
but which reached the server only after the link came back.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devices.clock_anchor import read_clock_anchor
from devices.site import load_belt
from server.demo.services import free_port
from tests.system.demo_process import RunningDemo
from tests.system.friday import demo_dsn, wait_for_truth, wait_until_drained
from tests.system.test_day_scenario import score

pytestmark = pytest.mark.system

SPEED = 120
CUT_MINUTES = 10


def _site_tickets(outbox: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The site's own record: every ticket in its edge agent's queue tables, by (day, number)."""
    with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT day, number, view FROM queue_tickets").fetchall()
    return {(str(day), str(number)): json.loads(view) for day, number, view in rows}


def _centre_tickets(dsn: str, site_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT day::text, number, ticket FROM queue_event e WHERE site_id = %s AND ticket IS NOT NULL"
            " AND seq = (SELECT max(seq) FROM queue_event f WHERE f.site_id = e.site_id AND f.day = e.day"
            " AND f.number = e.number)",
            (site_id,),
        ).fetchall()
        table = connection.execute(
            "SELECT day::text, number, status FROM queue_ticket WHERE site_id = %s", (site_id,)
        ).fetchall()
    newest = {(str(day), str(number)): dict(ticket) for day, number, ticket in rows}
    assert {key: view["status"] for key, view in newest.items()} == {(d, n): s for d, n, s in table}
    return newest


def test_the_sites_keep_issuing_and_calling_through_a_ten_minute_cut_and_the_centre_catches_up(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "demo"
    demo = RunningDemo(
        data_dir,
        free_port(),
        args=("--scenario", "uplink-cut", "--speed", str(SPEED), "--start", "fri 09:00", "--duration", "90"),
    )
    try:
        assert demo.wait_for_banner() > 0
        truth_file, truth = wait_for_truth(demo, data_dir, timeout_s=240)
        dsn = demo_dsn(data_dir)
        wait_until_drained(dsn)
        anchor = read_clock_anchor(data_dir / "clock.json")
        assert anchor is not None
        (cut,) = [fault for fault in truth["faults"] if fault["kind"] == "uplink-cut"]
        cut_start, cut_end = datetime.fromisoformat(cut["from"]), datetime.fromisoformat(cut["until"])
        assert cut_end - cut_start == timedelta(minutes=CUT_MINUTES)

        # The residents' side: tickets were taken and called at the sites during the cut.
        taken = [t for t in truth["tickets"] if cut_start <= datetime.fromisoformat(t["taken_at"]) < cut_end]
        assert len(taken) >= 5, "the plan has too few tickets in the cut to show anything"

        with psycopg.connect(dsn) as connection:
            made_while_cut = connection.execute(
                "SELECT kind, count(*) FROM queue_event WHERE at >= %s AND at < %s AND received_at > %s GROUP BY kind",
                (cut_start, cut_end, anchor.wall(cut_end) - timedelta(seconds=0.5)),
            ).fetchall()
        kinds: dict[str, int] = dict(made_while_cut)
        assert kinds.get("issued", 0) >= 5, kinds
        assert kinds.get("called", 0) >= 1, kinds

        # The centre's records match each site's, ticket by ticket.
        for site in load_belt().sites:
            outbox = data_dir / "edge" / f"{site.id}-outbox.sqlite3"
            if not site.services or not outbox.exists():
                continue
            at_site = _site_tickets(outbox)
            at_centre = _centre_tickets(dsn, site.id)
            assert at_centre == at_site, site.id
            for prefix in {service.prefix for service in site.services}:
                for day in {day for day, _number in at_site}:
                    numbers = sorted(int(n[1:]) for d, n in at_site if d == day and n[0] == prefix)
                    assert numbers == list(range(1, len(numbers) + 1)), (site.id, day, prefix)

        # And the score agrees: no number issued twice, none missing, none called twice.
        figures, _summary = score("waits", truth_file, dsn)
        assert (figures["duplicate_numbers"], figures["gaps"], figures["called_twice"]) == (0, 0, 0), figures
        assert figures["tickets"] == figures["tickets_in_truth"] > 0, figures
    finally:
        code = demo.interrupt()
    assert code == 0, "".join(demo.output[-40:])
