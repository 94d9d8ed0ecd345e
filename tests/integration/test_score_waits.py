"""``smartcomplex score waits`` reads a real database: the centre's copy of a site queue (queue_ticket, queue_event)
on the scenario's local day, scored against the truth file; it prints the figures as JSON and exits 0, or exits 2
with one line for a database it cannot read."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from server.db.migrate import apply_migrations
from tests.unit.test_wait_score import DAY, at, truth_ticket, z

ROOT = Path(__file__).resolve().parents[2]


def run_score_waits(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "score", "waits", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_truth(path: Path, *tickets: dict[str, Any]) -> Path:
    document = {
        "schema": "smartcomplex.truth/v1",
        "scenario": "day",
        "seed": 3,
        "timezone": "Asia/Shanghai",
        "day": DAY.isoformat(),
        "from": z("00:30"),
        "until": z("09:00"),
        "sites": ["s"],
        "spaces": [],
        "bookings": [],
        "tickets": list(tickets),
        "windows": [],
        "card_uses": [],
        "faults": [],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def store_ticket(
    connection: psycopg.Connection, seq: int, number: str, issued: str, shown_min: tuple[int, int] | None
) -> None:
    lo, hi = (None, None) if shown_min is None else (shown_min[0] * 60, shown_min[1] * 60)
    connection.execute(
        "INSERT INTO queue_ticket (site_id, day, number, prefix, running_number, service_id, source, priority,"
        " status, issued_at, order_at, device_id, waiting_ahead, shown_wait_lo_s, shown_wait_hi_s, last_seq)"
        " VALUES ('s', %s, %s, %s, %s, 'party-mass', 'dispenser', false, 'waiting', %s, %s, 'dispenser-1', 0,"
        " %s, %s, %s)",
        (DAY, number, number[0], int(number[1:]), at(issued), at(issued), lo, hi, seq),
    )


def store_event(connection: psycopg.Connection, seq: int, kind: str, number: str, when: str) -> None:
    connection.execute(
        "INSERT INTO queue_event (site_id, seq, kind, at, ts, received_at, day, number, service_id)"
        " VALUES ('s', %s, %s, %s, %s, %s, %s, %s, 'party-mass')",
        (seq, kind, at(when), at(when), at(when) + timedelta(seconds=1), DAY, number),
    )


def test_the_figures_of_a_stored_queue_day_are_printed_as_json(pg_dsn: str, tmp_path: Path) -> None:
    apply_migrations(pg_dsn)
    with psycopg.connect(pg_dsn) as connection:
        store_ticket(connection, 1, "B001", "01:00", (5, 12))
        store_ticket(connection, 2, "B002", "01:01", (10, 20))
        store_ticket(connection, 3, "B004", "01:02", None)  # B003 never reached the centre: a gap
        for seq, kind, number, when in [
            (1, "issued", "B001", "01:00"),
            (2, "issued", "B002", "01:01"),
            (3, "issued", "B004", "01:02"),
            (4, "called", "B001", "01:06"),
            (5, "called", "B002", "01:40"),
            (6, "called", "B002", "01:41"),  # the same ticket called twice
            (7, "called", "B004", "01:45"),
        ]:
            store_event(connection, seq, kind, number, when)
    truth = write_truth(
        tmp_path / "truth.json",
        truth_ticket("B001", "01:00", "01:06"),  # 6 min in 5-12
        truth_ticket("B002", "01:01", "01:40"),  # 39 min against 10-20: late
        truth_ticket("B003", "01:02", "01:45"),  # matched by order with the system's B004, shown no estimate
    )

    done = run_score_waits("--truth", str(truth), "--database-url", pg_dsn)

    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["tickets"], figures["tickets_in_truth"], figures["matched"]) == (3, 3, 3)
    assert figures["number_mismatches"] == 1
    assert (figures["served"], figures["late"], figures["early"], figures["shown_without_estimate"]) == (3, 1, 0, 1)
    assert figures["served_within_shown_range"] == round(1 / 3, 4)
    assert figures["median_wait_min"] == 39.0  # of 6, 39, 43
    assert (figures["duplicate_numbers"], figures["gaps"], figures["called_twice"]) == (0, 1, 1)
    assert figures["per_service"]["s/party-mass"]["matched"] == 3
    assert "s/B002: waited 39 min, shown 10-20 min" in figures["findings"]


def test_a_database_without_the_queue_tables_is_refused_with_exit_2(pg_dsn: str, tmp_path: Path) -> None:
    truth = write_truth(tmp_path / "truth.json")

    done = run_score_waits("--truth", str(truth), "--database-url", pg_dsn)

    assert done.returncode == 2
    assert done.stderr.startswith("smartcomplex: database: reading the queue records")
    assert done.stdout == ""
