"""The edge agent killed with SIGKILL in the middle of flushing its outbox: after a restart every reading is stored
exactly once.

The agent runs as its own program (``smartcomplex edge``), as deployed. A backlog of readings builds up in its
outbox while the central broker is down; once the broker is up the agent flushes it, and is killed while the
database holds between a tenth and nine tenths of them. The restarted agent sends what was not confirmed, some of it
for the second time, and the database ends up with every reading once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.broker import BrokerAddress
from devices.mqtt_link import MqttLink
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto
from server.ingest.service import IngestService
from tests.integration.vs121_fleet import expected_history, stored_history, stored_total, vs121_report, write_belt
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SITE = "killed"
SENSORS = 3
REPORTS_PER_SENSOR = 1000
TOTAL = SENSORS * REPORTS_PER_SENSOR
# A small window spreads the flush over a second or more, so that the kill lands in its middle.
WINDOW = 100


def outbox_depth(state_dir: Path) -> int:
    """Rows in the agent's outbox, read from its file while the agent runs (WAL lets readers in)."""
    path = state_dir / f"{SITE}-outbox.sqlite3"
    if not path.exists():
        return -1
    db = sqlite3.connect(path, timeout=5)
    try:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    except sqlite3.OperationalError:  # the agent has not created its tables yet
        return -1
    finally:
        db.close()


class AgentProcess:
    def __init__(self, *, site_file: Path, state_dir: Path, site_broker: str, central_broker: str, log: Path) -> None:
        self._command = [
            sys.executable, "-m", "server.cli", "edge", "--site", SITE,
            "--site-file", str(site_file), "--state-dir", str(state_dir),
        ]  # fmt: skip
        self._env = {
            **os.environ,
            "SC_EDGE_SITE_BROKER_URL": site_broker,
            "SC_EDGE_CENTRAL_BROKER_URL": central_broker,
            "SC_EDGE_UPLINK_WINDOW": str(WINDOW),
        }
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(self._command, cwd=ROOT, env=self._env, stdout=log, stderr=log)

    def kill(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def log_tail(self) -> str:
        return "\n".join(self.log_text().splitlines()[-30:])


def wait_for_agent(agent: AgentProcess, condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """wait_until, with the agent's last log lines in the failure."""
    try:
        wait_until(condition, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the agent's log ends:\n{agent.log_tail()}") from None


@pytest.fixture
def site_broker(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    with PrivateMosquitto(tmp_path / "site-broker") as mosquitto:
        yield mosquitto


@pytest.mark.system
@pytest.mark.timeout(150)
def test_an_agent_killed_in_the_middle_of_a_flush_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, site_broker: PrivateMosquitto, pg_dsn: str
) -> None:
    apply_migrations(pg_dsn)
    site_file = tmp_path / "belt.yaml"
    belt = write_belt(site_file, sites={SITE: SENSORS}, vendor_root=f"test-{uuid.uuid4().hex[:8]}")
    state_dir = tmp_path / "edge"
    central = PrivateMosquitto(tmp_path / "central")  # its port is chosen now; it starts once the backlog is built
    agent = AgentProcess(
        site_file=site_file,
        state_dir=state_dir,
        site_broker=site_broker.url,
        central_broker=central.url,
        log=tmp_path / "agent.log",
    )
    publisher = MqttLink(BrokerAddress("127.0.0.1", site_broker.port), client_id="backlog-sensors")
    ingest: IngestService | None = None
    base = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    try:
        # A first run leaves the agent's persistent session at the site broker. Its SUBSCRIBE went out before the
        # DISCONNECT of its clean stop on the same connection, so the session surely holds the subscriptions and
        # the broker queues the whole backlog for the agent's next run.
        agent.start()
        connected = f"connected as sc-edge-{SITE}-devices"
        wait_for_agent(agent, lambda: connected in agent.log_text(), timeout=15, what="the agent at the site broker")
        agent.stop()
        publisher.start()
        assert publisher.wait_connected(10)
        receipts = [
            publisher.publish(str(device.vendor_topic), vs121_report(str(device.serial), k, base))
            for k in range(REPORTS_PER_SENSOR)
            for device in belt.site(SITE).devices
        ]
        wait_until(lambda: all(r.acknowledged for r in receipts), timeout=30, what="the reports at the site broker")
        agent.start()
        wait_for_agent(agent, lambda: outbox_depth(state_dir) == TOTAL, timeout=60, what=f"{TOTAL} in the outbox")

        central.start()
        ingest = IngestService(
            belt=belt, broker=BrokerAddress("127.0.0.1", central.port), conninfo=pg_dsn, client_id="sigkill-ingest"
        )
        ingest.start()
        deadline = time.monotonic() + 60
        while not TOTAL // 10 <= (stored := stored_total(pg_dsn)) <= TOTAL * 9 // 10:
            assert stored < TOTAL // 10, f"the flush ran past 90 % ({stored}) before it could be interrupted"
            assert time.monotonic() < deadline, f"the flush did not start:\n{agent.log_tail()}"
            time.sleep(0.005)
        assert agent.kill() == -signal.SIGKILL
        assert outbox_depth(state_dir) > 0, "killed after the flush had ended"

        agent.start()
        wait_for_agent(agent, lambda: stored_total(pg_dsn) >= TOTAL, timeout=60, what="every reading after restart")
        wait_for_agent(agent, lambda: outbox_depth(state_dir) == 0, timeout=30, what="the outbox emptied")
        history = stored_history(pg_dsn)
    finally:
        agent.stop()
        publisher.stop()
        if ingest is not None:
            ingest.stop()
        central.stop()

    assert stored_total(pg_dsn) == TOTAL
    for device in belt.site(SITE).devices:
        assert history.get(device.id) == expected_history(REPORTS_PER_SENSOR, base), f"{device.id}: readings differ"
