"""One Friday at the Complex, run once per test session and shared: the demo plays 08:00-21:00 at 720x on every
device of the belt, and its database is copied to the machine's PostgreSQL for the tests that read it.

Two copies are kept:
- ``dsn``: the demo's database as it was (the day-scenario test scores it against the ground truth);
- ``retimed_dsn``: the same with the wall-clock columns mapped onto the simulated day. In a demo, devices, edge
  agents and the ingest stamp wall time (the Friday lasts 65 real seconds), while the server's bookings and the
  queues run on the scenario's clock; the server converts when it reads (server/clock.py). Grafana and the reports
  read the database directly, so their tests get a copy in which everything is on the simulated clock, as it would
  be in production, where both clocks are one.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from devices.clock_anchor import ClockAnchor, read_clock_anchor
from devices.site import load_belt
from server.demo.services import free_port
from tests.conftest import PG_ADMIN_DSN
from tests.system.demo_process import RunningDemo, get_json

SPEED = "720"  # 13 simulated hours in 65 s
DAY_MINUTES = "780"  # 08:00 to 21:00 local
SEED = "7"

# Columns stamped with the wall clock in a demo (devices, edge agents, the ingest's receive time). Columns on the
# server's or the queue's clock (bookings, booking events, tickets, queue_event.at) are simulated already.
WALL_CLOCK_COLUMNS: dict[str, tuple[str, ...]] = {
    "occupancy_reading": ("ts", "received_at"),
    "device_event": ("ts", "received_at"),
    "device_status": ("since", "last_seen", "reported_at", "received_at"),
    "device_status_change": ("changed_at", "received_at"),
    "ingest_reject": ("received_at",),
    "queue_event": ("ts", "received_at"),
    "queue_board": ("received_at",),
    "edge_outbox_sample": ("ts", "received_at"),
}


@dataclass(frozen=True, slots=True)
class FridayRun:
    data_dir: Path
    truth_file: Path
    truth: dict[str, Any]
    anchor: ClockAnchor
    dsn: str  # the demo's database as it was, copied to the machine's PostgreSQL
    retimed_dsn: str  # the same on the simulated clock throughout
    demo_exit_code: int
    demo_output: tuple[str, ...]
    database_names: tuple[str, ...]

    @property
    def day_start(self) -> datetime:
        """The simulated start (08:00 local), UTC."""
        return datetime.fromisoformat(str(self.truth["from"]).replace("Z", "+00:00"))

    @property
    def day_end(self) -> datetime:
        """The simulated end (21:00 local), UTC."""
        return datetime.fromisoformat(str(self.truth["until"]).replace("Z", "+00:00"))


def demo_dsn(data_dir: Path) -> str:
    """The demo's database, from the port its private PostgreSQL wrote in its data directory."""
    pid_file = data_dir / "postgres" / "postmaster.pid"
    port = int(pid_file.read_text(encoding="utf-8").splitlines()[3])
    return f"host=127.0.0.1 port={port} user=postgres dbname=smartcomplex"


def _wait_until_every_device_is_online(api: str) -> None:
    """While the day runs, every device of every site reports online to the server (health via the edge)."""
    sites = [site.id for site in load_belt().sites]
    states: dict[str, str] = {}
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        states = {}
        for site_id in sites:
            body = get_json(f"{api}/api/v1/sites/{site_id}/devices")
            states.update({d["id"]: d["health"]["state"] for d in body["devices"]})  # type: ignore[attr-defined]
        if set(states.values()) == {"online"}:
            return
        time.sleep(1)
    raise AssertionError(f"not every device online: { {k: v for k, v in states.items() if v != 'online'} }")


def _stored_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT (SELECT count(*) FROM occupancy_reading) + (SELECT count(*) FROM device_event)"
            " + (SELECT count(*) FROM queue_event)"
        ).fetchone()
    assert row is not None
    return int(row[0])


def wait_until_drained(dsn: str, *, quiet_s: float = 5.0, timeout_s: float = 90.0) -> None:
    """The scenario is over; wait until the stored rows stop growing (the outboxes have drained)."""
    previous, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = _stored_rows(dsn)
        if current != previous:
            previous, stable_since = current, time.monotonic()
        elif time.monotonic() - stable_since > quiet_s:
            return
        time.sleep(0.5)
    raise AssertionError(f"the database kept growing for {timeout_s:.0f} s after the scenario ended")


def wait_for_truth(demo: RunningDemo, data_dir: Path, *, timeout_s: float = 180.0) -> tuple[Path, dict[str, Any]]:
    """The ground truth the demo's scenario writes when its span is over: its path and its document."""
    truth_file = data_dir / "truth.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not truth_file.exists():
        time.sleep(1)
    assert truth_file.exists(), "".join(demo.output[-40:])
    return truth_file, json.loads(truth_file.read_text(encoding="utf-8"))


def _copy_database(source_dsn: str, dump_file: Path) -> str:
    """The demo's database dumped and restored into a new database of the machine's PostgreSQL; its conninfo."""
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump_file}", source_dsn], check=True, timeout=120)
    name = f"sc_friday_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    target = psycopg.conninfo.make_conninfo(PG_ADMIN_DSN, dbname=name)
    subprocess.run(
        ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={target}", str(dump_file)],
        check=True,
        timeout=120,
    )
    return target


def _retimed_copy(source_name: str, anchor: ClockAnchor) -> str:
    name = f"{source_name}_sim"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(source_name))
        )
    dsn = psycopg.conninfo.make_conninfo(PG_ADMIN_DSN, dbname=name)
    with psycopg.connect(dsn) as connection:
        present = {str(row[0]) for row in connection.execute("SELECT tablename FROM pg_tables")}
        for table, names in WALL_CLOCK_COLUMNS.items():
            if table not in present:
                continue
            assignments = sql.SQL(", ").join(
                sql.SQL("{col} = %(sim)s + ({col} - %(wall)s) * %(speed)s").format(col=sql.Identifier(column))
                for column in names
            )
            connection.execute(
                sql.SQL("UPDATE {} SET {}").format(sql.Identifier(table), assignments),
                {"sim": anchor.simulated_start, "wall": anchor.wall_start, "speed": anchor.speed},
            )
    return dsn


def run_friday(work_dir: Path) -> FridayRun:
    data_dir = work_dir / "demo"
    demo = RunningDemo(
        data_dir,
        free_port(),
        args=("--speed", SPEED, "--start", "fri 08:00", "--duration", DAY_MINUTES, "--seed", SEED),
    )
    try:
        assert demo.wait_for_banner() > 0
        _wait_until_every_device_is_online(demo.api)
        truth_file, truth = wait_for_truth(demo, data_dir)
        source = demo_dsn(data_dir)
        wait_until_drained(source)
        anchor = read_clock_anchor(data_dir / "clock.json")
        assert anchor is not None, "the scenario wrote no clock anchor"
        copied = _copy_database(source, work_dir / "friday.dump")
    finally:
        code = demo.interrupt()
    source_name = psycopg.conninfo.conninfo_to_dict(copied)["dbname"]
    assert isinstance(source_name, str)
    retimed = _retimed_copy(source_name, anchor)
    return FridayRun(
        data_dir=data_dir,
        truth_file=truth_file,
        truth=truth,
        anchor=anchor,
        dsn=copied,
        retimed_dsn=retimed,
        demo_exit_code=code,
        demo_output=tuple(demo.output),
        database_names=(source_name, f"{source_name}_sim"),
    )


def drop_databases(names: tuple[str, ...]) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
