"""The ingest through a database crash: messages wait unacknowledged, and everything is stored once afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


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
        wait_for(lambda: len(stored_seqs(conninfo)) == BATCH, 30, "the first readings")

        database.crash()  # pg_ctl stop -m immediate: no shutdown checkpoint, connections cut
        publish_readings(publisher, range(BATCH, 2 * BATCH))
        wait_for(lambda: not ingest.stats_snapshot()["database_ok"], 30, "the ingest to notice the outage")
        time.sleep(1)  # let it retry against the dead database at least once
        database.start()

        wait_for(lambda: len(stored_seqs(conninfo)) == 2 * BATCH, 60, "every reading after the restart")
        assert stored_seqs(conninfo) == list(range(2 * BATCH))
        assert ingest.stats_snapshot()["database_ok"] is True
    finally:
        publisher.stop()
        ingest.stop()
