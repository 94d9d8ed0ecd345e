"""The edge outbox's depth reaches the centre: an agent's samples land in edge_outbox_sample, and with the uplink cut
(a TCP relay between the agent and the central broker) the samples taken during the cut arrive after it, with the
times they were taken, showing the outbox growing while the centre was away and draining after.

Real Mosquitto (a private one, for the persistent sessions) and the machine's PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from devices.broker import BrokerAddress
from devices.mqtt_link import InboundMessage, MqttLink
from devices.outbox_report import OutboxSample, decode_outbox_sample, encode_outbox_sample, outbox_report_topic
from edge.agent import EdgeAgent
from edge.outbox import Outbox
from server.db.edge_outbox import EdgeOutboxSample, outbox_samples
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto
from server.ingest.service import IngestService
from simulators.netfault import TcpRelay
from tests.integration.vs121_fleet import vs121_report, write_belt
from tests.waiting import wait_until

SITE = "outbox-site"
INTERVAL_S = 0.5
CUT_S = 4.0
REPORT_PERIOD_S = 0.1  # one sensor report every 100 ms: ~40 envelopes pile up in the outbox during the cut


def samples(dsn: str) -> list[EdgeOutboxSample]:
    far = timedelta(days=1)
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        return outbox_samples(conn, site_id=SITE, since=now - far, until=now + far)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerAddress]:
    with PrivateMosquitto(tmp_path / "broker") as mosquitto:
        yield BrokerAddress("127.0.0.1", mosquitto.port)


@pytest.mark.timeout(60)
def test_outbox_samples_taken_while_the_uplink_is_cut_arrive_after_it_showing_the_backlog_grow_and_drain(
    tmp_path: Path, broker: BrokerAddress, pg_dsn: str
) -> None:
    apply_migrations(pg_dsn)
    belt = write_belt(tmp_path / "belt.yaml", sites={SITE: 1}, vendor_root=f"test-{uuid.uuid4().hex[:8]}")
    site = belt.site(SITE)
    (sensor,) = site.devices
    assert sensor.vendor_topic is not None
    assert sensor.serial is not None
    outbox = Outbox(tmp_path / "outbox.sqlite3", site_id=SITE)
    ingest = IngestService(belt=belt, broker=broker, conninfo=pg_dsn, client_id="ingest-outbox-report")
    publisher = MqttLink(broker, client_id="vs121-sensor")
    stop_reports = threading.Event()
    base = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)

    def report_steadily() -> None:
        k = 0
        while not stop_reports.wait(REPORT_PERIOD_S):
            publisher.publish(str(sensor.vendor_topic), vs121_report(str(sensor.serial), k, base))
            k += 1

    reporter = threading.Thread(target=report_steadily, name="vs121-reports", daemon=True)
    with TcpRelay(broker.host, broker.port) as relay:
        agent = EdgeAgent(
            site=site,
            tz=belt.tz,
            site_broker=broker,
            central_broker=BrokerAddress("127.0.0.1", relay.port),
            outbox=outbox,
            outbox_report_interval_s=INTERVAL_S,
        )
        ingest.start()
        publisher.start()
        agent.start()
        try:
            assert ingest.wait_connected(10)
            assert publisher.wait_connected(10)
            assert agent.wait_connected(10)
            reporter.start()
            wait_until(lambda: len(samples(pg_dsn)) >= 3, what="samples stored while the uplink is up")

            relay.cut()
            cut_at = datetime.now(UTC)
            time.sleep(CUT_S)
            restored_at = datetime.now(UTC)
            relay.restore()

            # Back: the cut's samples arrive, then the outbox drains to nothing once the reports stop.
            wait_until(lambda: any(s.ts > restored_at for s in samples(pg_dsn)), what="a sample after the restore")
            stop_reports.set()
            reporter.join(timeout=5)
            wait_until(
                lambda: samples(pg_dsn)[-1].depth == 0 and samples(pg_dsn)[-1].ts > restored_at,
                timeout=20,
                what="a sample of the drained outbox",
            )
            latest = _retained_sample(broker)
        finally:
            stop_reports.set()
            agent.stop()
            ingest.stop()
            publisher.stop()
            outbox.close()

    stored = samples(pg_dsn)
    during = [s for s in stored if cut_at < s.ts < restored_at]
    # One sample each 0.5 s of the 4 s cut, taken then by the agent's clock and stored only after the restore.
    assert len(during) >= int(CUT_S / INTERVAL_S) - 2, [(s.ts, s.received_at) for s in stored]
    assert all(s.received_at >= restored_at for s in during)
    depths = [s.depth for s in during]
    assert depths[-1] == max(depths), depths
    assert depths[-1] - depths[0] >= 20, depths  # ~40 reports waited in the outbox, none confirmed
    assert all(s.oldest_age_s is not None and s.max_rows == outbox.max_rows for s in during)
    assert [s.ts for s in stored] == sorted({s.ts for s in stored}), "each sample once"
    # The topic's retained message is the agent's newest sample: the drained outbox.
    assert latest.depth == 0
    assert latest.ts > restored_at


def _retained_sample(broker: BrokerAddress) -> OutboxSample:
    """The sample a new subscriber gets at once: the retained one."""
    received: list[InboundMessage] = []
    observer = MqttLink(broker, client_id="outbox-observer", on_message=received.append)
    observer.subscribe(outbox_report_topic(SITE), qos=1)
    observer.start()
    try:
        assert observer.wait_connected(10)
        wait_until(lambda: any(m.retain for m in received), what="the retained sample")
    finally:
        observer.stop()
    return decode_outbox_sample(next(m for m in received if m.retain).payload)


def test_a_malformed_sample_is_an_ingest_reject_and_the_samples_around_it_are_stored(
    tmp_path: Path, broker: BrokerAddress, pg_dsn: str
) -> None:
    apply_migrations(pg_dsn)
    belt = write_belt(tmp_path / "belt.yaml", sites={SITE: 1}, vendor_root="test-malformed")
    ingest = IngestService(belt=belt, broker=broker, conninfo=pg_dsn, client_id="ingest-malformed-sample")
    agent = MqttLink(broker, client_id="fake-agent")
    now = datetime.now(UTC).replace(microsecond=0)
    good = [encode_outbox_sample(OutboxSample(now + timedelta(seconds=k), 5 * k, 1.0, 0, 100)) for k in range(2)]
    bad = b'{"ts":"' + now.isoformat().encode() + b'","depth":-1,"oldest_age_s":null,"dropped_telemetry":0}'
    ingest.start()
    agent.start()
    try:
        assert ingest.wait_connected(10)
        assert agent.wait_connected(10)
        for payload in (good[0], bad, good[1], good[1]):  # the last one replayed
            assert agent.publish_and_wait(outbox_report_topic(SITE), payload)
        wait_until(lambda: ingest.stats_snapshot()["received"] == 4, what="every sample received")
        stats = ingest.stats_snapshot()
    finally:
        agent.stop()
        ingest.stop()
    assert (stats["outbox_samples"], stats["rejected"]) == (2, {"schema": 1})
    assert [(s.ts, s.depth) for s in samples(pg_dsn)] == [(now, 0), (now + timedelta(seconds=1), 5)]
    with psycopg.connect(pg_dsn) as conn:
        rejects = conn.execute("SELECT topic, reason, detail FROM ingest_reject").fetchall()
    assert rejects == [
        (outbox_report_topic(SITE), "schema", "depth: Input should be greater than or equal to 0"),
    ]
