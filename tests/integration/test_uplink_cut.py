"""The uplink cut for minutes at a steady rate: every reading reaches the database afterwards, in order, once.

Two independent sites run side by side on one timeline, each with its own central broker (configured like the
production one: no queue limit, persistence), edge agent and ingest, sharing a site broker and a database:

- site ``cut-broker``: its central broker is stopped for 180 s, then started again;
- site ``cut-ingest``: its ingest is stopped for 60 s, then a new one takes over the same persistent session.

Running them side by side rather than one after the other halves the test's wall time. Afterwards every reading of
every device is checked, not a sample: sequence numbers 0..N-1 each once, each carrying the time of the report it
was made from (so the agent numbered them in the order the sensor sent them), and the outboxes empty.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.broker import BrokerAddress
from devices.mqtt_link import MqttLink
from devices.site import Belt
from edge.agent import EdgeAgent
from edge.outbox import Outbox
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto
from server.ingest.service import IngestService
from tests.integration.vs121_fleet import (
    SteadySensors,
    expected_history,
    stored_history,
    stored_total,
    write_belt,
)
from tests.waiting import wait_until

BROKER_CUT_S = 180
INGEST_CUT_S = 60
SENSORS_PER_SITE = 4
REPORT_PERIOD_S = 0.2  # 5 reports a second per sensor: 40 a second in all, ~7,500 readings over the test


class Stack:
    """One site's path to the database: central broker, edge agent with its outbox, ingest."""

    def __init__(self, belt: Belt, site_id: str, site_broker: BrokerAddress, dsn: str, tmp_path: Path) -> None:
        self.belt, self.site_id, self.dsn = belt, site_id, dsn
        self.central = PrivateMosquitto(tmp_path / f"{site_id}-central")
        self.central.start()
        self.address = BrokerAddress("127.0.0.1", self.central.port)
        self.outbox = Outbox(tmp_path / f"{site_id}-outbox.sqlite3", site_id=site_id)
        self.agent = EdgeAgent(
            site=belt.site(site_id),
            tz=belt.tz,
            site_broker=site_broker,
            central_broker=self.address,
            outbox=self.outbox,
        )
        self.ingest = self.new_ingest()
        self.agent.start()
        assert self.agent.wait_connected(10)

    def new_ingest(self) -> IngestService:
        ingest = IngestService(
            belt=self.belt, broker=self.address, conninfo=self.dsn, client_id=f"ingest-{self.site_id}"
        )
        ingest.start()
        assert ingest.wait_connected(10)
        return ingest

    def stored(self) -> int:
        return sum(len(rows) for device, rows in stored_history(self.dsn).items() if device.startswith(self.site_id))

    def close(self) -> None:
        self.agent.stop()
        self.ingest.stop()
        self.outbox.close()
        self.central.stop()


@pytest.fixture
def site_broker(tmp_path: Path) -> Iterator[BrokerAddress]:
    with PrivateMosquitto(tmp_path / "site-broker") as mosquitto:
        yield BrokerAddress("127.0.0.1", mosquitto.port)


@pytest.mark.system
@pytest.mark.timeout(BROKER_CUT_S + 120)
def test_every_reading_reaches_the_database_once_and_in_order_after_the_uplink_is_cut(
    tmp_path: Path, site_broker: BrokerAddress, pg_dsn: str
) -> None:
    apply_migrations(pg_dsn)
    vendor_root = f"test-{uuid.uuid4().hex[:8]}"
    belt = write_belt(
        tmp_path / "belt.yaml",
        sites={"cut-broker": SENSORS_PER_SITE, "cut-ingest": SENSORS_PER_SITE},
        vendor_root=vendor_root,
    )
    sensors = {str(device.vendor_topic): str(device.serial) for site in belt.sites for device in site.devices}
    base = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    publisher = MqttLink(site_broker, client_id="steady-sensors")
    publisher.start()
    assert publisher.wait_connected(10)
    broker_cut = Stack(belt, "cut-broker", site_broker, pg_dsn, tmp_path)
    ingest_cut = Stack(belt, "cut-ingest", site_broker, pg_dsn, tmp_path)
    fleet = SteadySensors(publisher, sensors, base, REPORT_PERIOD_S)
    try:
        fleet.start()
        wait_until(lambda: broker_cut.stored() >= 20 and ingest_cut.stored() >= 20, what="readings flowing")

        broker_cut.central.stop()
        ingest_cut.ingest.stop()
        cut_at = time.monotonic()
        rounds_at_cut = fleet.rounds

        time.sleep(INGEST_CUT_S)
        # The agent kept taking reports in with its centre gone: they are in its outbox, not waiting at the broker.
        backlog = (fleet.rounds - rounds_at_cut) * SENSORS_PER_SITE
        assert broker_cut.outbox.stats().depth >= backlog - SENSORS_PER_SITE * 10
        ingest_cut.ingest = ingest_cut.new_ingest()

        time.sleep(max(0.0, cut_at + BROKER_CUT_S - time.monotonic()))
        broker_cut.central.start()
        reports = fleet.stop()
        wait_until(fleet.all_acknowledged, what="every report at the site broker")

        total = reports * SENSORS_PER_SITE * 2
        wait_until(lambda: stored_total(pg_dsn) >= total, timeout=90, what=f"all {total} readings stored")
        wait_until(
            lambda: broker_cut.outbox.stats().depth == 0 and ingest_cut.outbox.stats().depth == 0,
            timeout=30,
            what="both outboxes emptied by confirmations",
        )
        history = stored_history(pg_dsn)
        ingest_stats = ingest_cut.ingest.stats_snapshot()
        resent = ingest_cut.agent.uplink_stats().resent
    finally:
        fleet.stop()
        broker_cut.close()
        ingest_cut.close()
        publisher.stop()

    assert stored_total(pg_dsn) == total
    for site in belt.sites:
        for device in site.devices:
            assert history.get(device.id) == expected_history(reports, base), f"{device.id}: readings differ"
    # The silent ingest made its agent send its window again after the confirmation timeout; the new ingest got
    # both copies from the broker's queue and stored one.
    assert resent > 0
    assert int(str(ingest_stats["duplicates"])) > 0
