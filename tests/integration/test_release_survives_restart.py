"""The server killed with SIGKILL during a booking's grace period: after a restart the release still happens on time.

The server runs as deployed (``smartcomplex server``), on a simulated clock at 60x, so the default 10-minute grace
lasts 10 s on the wall clock. The room's sensor keeps reporting nobody (fresh 0-people readings, written by the test
as the ingest would). The release deadline lives in the database (``room_schedule``), not in the killed process.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from devices.clock_anchor import ClockAnchor, write_clock_anchor
from server.db.migrate import apply_migrations
from server.demo import free_port
from tests.integration.release_world import SENSOR, SITE, SPACE, add_account, add_booking, events, one
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SITE_FILE = ROOT / "devices" / "sites" / "changping_road.yaml"
SPEED = 60.0
GRACE = timedelta(minutes=10)  # ReleasePolicy's default
LEAD_IN = timedelta(minutes=5)  # simulated time from the anchor to the booking's start: the server starts meanwhile


class ServerProcess:
    def __init__(self, *, database: str, clock_file: Path, port: int, log: Path) -> None:
        self._command = [
            sys.executable, "-m", "server.cli", "server", "--port", str(port), "--site-file", str(SITE_FILE),
        ]  # fmt: skip
        self._env = {
            **os.environ,
            "SC_DATABASE_URL": database,
            "SC_SIMULATED_CLOCK_FILE": str(clock_file),
            "SC_INGEST_ENABLED": "false",
            "SC_COMMANDS_ENABLED": "false",
        }
        self._url = f"http://127.0.0.1:{port}/api/v1/health"
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(self._command, cwd=ROOT, env=self._env, stdout=log, stderr=log)
        wait_until(self._healthy, timeout=30, what=f"the server to answer; its log ends:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            return httpx.get(self._url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self) -> str:
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        return "\n".join(text.splitlines()[-30:])


@contextmanager
def empty_room_readings_running(pg_dsn: str) -> Iterator[None]:
    """The room's sensor reports 0 people every half wall second (30 simulated s), stamped with the wall time."""
    stop = threading.Event()
    seq = itertools.count(1)

    def report() -> None:
        with psycopg.connect(pg_dsn, autocommit=True) as connection:
            while not stop.is_set():
                at = datetime.now(UTC)
                connection.execute(
                    "INSERT INTO occupancy_reading (device_id, seq, ts, received_at, site_id, space_id, people,"
                    " occupied) VALUES (%s, %s, %s, %s, %s, %s, 0, false)",
                    (SENSOR, next(seq), at, at, SITE, SPACE),
                )
                stop.wait(0.5)

    thread = threading.Thread(target=report, name="empty-room-sensor", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


@pytest.mark.system
@pytest.mark.timeout(120)
def test_a_server_killed_during_the_grace_period_still_releases_on_time_after_a_restart(
    tmp_path: Path, pg_dsn: str
) -> None:
    apply_migrations(pg_dsn)
    owner = add_account(pg_dsn, "owner")
    anchor = ClockAnchor(
        simulated_start=datetime(2026, 11, 27, 1, 55, tzinfo=UTC), wall_start=datetime.now(UTC), speed=SPEED
    )
    clock_file = tmp_path / "clock.json"
    write_clock_anchor(clock_file, anchor)
    start = anchor.simulated_start + LEAD_IN
    booking = add_booking(pg_dsn, owner=owner, start=start, end=start + timedelta(hours=1))
    server = ServerProcess(database=pg_dsn, clock_file=clock_file, port=free_port(), log=tmp_path / "server.log")

    def simulated_now() -> datetime:
        return anchor.simulated(datetime.now(UTC))

    def looked_at_since(at: datetime) -> bool:
        last = one(pg_dsn, "SELECT last_run_at FROM room_schedule WHERE space_id = %s", SPACE)[0]
        return isinstance(last, datetime) and last >= at

    with empty_room_readings_running(pg_dsn):
        try:
            server.start()
            # A few wall seconds into the grace, with the server watching the booking: kill it.
            wait_until(lambda: simulated_now() >= start + timedelta(minutes=3), timeout=30, what="the grace")
            wait_until(lambda: looked_at_since(start), timeout=10, what="the first server to watch the booking")
            (first_replica,) = one(pg_dsn, "SELECT last_run_by FROM room_schedule WHERE space_id = %s", SPACE)
            server.kill()
            assert one(pg_dsn, "SELECT status FROM booking WHERE id = %s", booking) == ("confirmed",)

            server.start()
            assert simulated_now() < start + GRACE, "the restart took longer than the grace: nothing to show"
            wait_until(
                lambda: one(pg_dsn, "SELECT status FROM booking WHERE id = %s", booking) == ("released",),
                timeout=30,
                what=f"the release; the server's log ends:\n{server.log_tail()}",
            )
        finally:
            server.stop()

    (released_at,) = one(pg_dsn, "SELECT released_at FROM booking WHERE id = %s", booking)
    assert isinstance(released_at, datetime)
    assert start + GRACE <= released_at <= start + GRACE + timedelta(minutes=1)
    (released,) = events(pg_dsn, booking, "released")
    assert released[2]["scheduler"] != first_replica  # decided by the restarted server
    assert released[2]["presence"] == "absent"
