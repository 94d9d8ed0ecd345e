"""The ingest through a database crash: messages wait unacknowledged, and everything is stored once afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from devices.broker import BrokerAddress
from devices.envelope import encode_envelope
from devices.mqtt_link import MqttLink
from devices.readings import OccupancyReading, RegionCount, occupancy_envelope
from devices.site import load_belt
from devices.topics import Channel, device_topic
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto, PrivatePostgres
from server.ingest.service import IngestService
from tests.waiting import wait_until

DEVICE = "complex-waiting-occupancy"
BATCH = 200


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[BrokerAddress, PrivatePostgres]]:
    with PrivateMosquitto(tmp_path / "mosquitto") as broker, PrivatePostgres(tmp_path / "postgres") as database:
        yield BrokerAddress("127.0.0.1", broker.port), database


def publish_readings(link: MqttLink, seqs: range) -> None:
    topic = device_topic("complex", DEVICE, Channel.EVENT, "occupancy")
    start = datetime.now(UTC) - timedelta(hours=1)
    for seq in seqs:
        reading = OccupancyReading(
            people=seq % 7, occupied=seq % 7 > 0, regions=(RegionCount("r", seq % 7, False),), trigger="interval"
        )
        link.publish(topic, encode_envelope(occupancy_envelope(DEVICE, seq, start + timedelta(seconds=seq), reading)))


def stored_seqs(conninfo: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        return [row[0] for row in conn.execute("SELECT seq FROM occupancy_reading ORDER BY seq")]


def test_readings_sent_while_the_database_is_down_are_stored_once_it_is_back(
    services: tuple[BrokerAddress, PrivatePostgres],
) -> None:
    broker, database = services
    conninfo = database.conninfo()
    apply_migrations(conninfo)
    ingest = IngestService(belt=load_belt(), broker=broker, conninfo=conninfo, client_id="test-outage-ingest")
    ingest.start()
    publisher = MqttLink(broker, client_id="test-outage-publisher")
    publisher.start()
    try:
        assert ingest.wait_connected(10)
        assert publisher.wait_connected(10)
        publish_readings(publisher, range(BATCH))
        wait_until(lambda: len(stored_seqs(conninfo)) == BATCH, timeout=30, what="the first readings")

        database.crash()  # pg_ctl stop -m immediate: no shutdown checkpoint, connections cut
        publish_readings(publisher, range(BATCH, 2 * BATCH))
        wait_until(lambda: not ingest.stats_snapshot()["database_ok"], timeout=30, what="outage noticed")
        time.sleep(1)  # let it retry against the dead database at least once
        database.start()

        wait_until(lambda: len(stored_seqs(conninfo)) == 2 * BATCH, timeout=60, what="every reading after the restart")
        assert stored_seqs(conninfo) == list(range(2 * BATCH))
        assert ingest.stats_snapshot()["database_ok"] is True
    finally:
        publisher.stop()
        ingest.stop()
