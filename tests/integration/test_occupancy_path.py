"""The occupancy path through the real Mosquitto and PostgreSQL: vendor report → edge → broker → ingest → DB.

Each test runs its own private broker (the edge and the ingest keep persistent sessions, which must not pile up
on the machine's shared broker) and its own database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from devices.broker import BrokerAddress
from devices.envelope import encode_envelope
from devices.mqtt_link import InboundMessage, MqttLink
from devices.readings import OCCUPANCY_SCHEMA, OccupancyReading, RegionCount, occupancy_data, occupancy_envelope
from devices.site import Belt, load_belt
from devices.topics import Channel, device_topic
from edge.agent import EdgeAgent
from edge.normalise import parse_occupancy
from edge.outbox import Outbox
from edge.sink import Outgoing
from server.db.migrate import apply_migrations
from server.db.readings import count_readings
from server.demo import PrivateMosquitto
from server.ingest.service import IngestService
from tests.contract.vs121_cases import MALFORMED_CASES, VALID_CASES
from tests.waiting import wait_until

SITE = "complex"
DEVICE = "complex-sharing-space-occupancy"


@pytest.fixture(scope="module")
def belt() -> Belt:
    return load_belt()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerAddress]:
    with PrivateMosquitto(tmp_path / "mosquitto") as mosquitto:
        yield BrokerAddress("127.0.0.1", mosquitto.port)


@pytest.fixture
def database(pg_dsn: str) -> str:
    apply_migrations(pg_dsn)
    return pg_dsn


@pytest.fixture
def ingest(belt: Belt, broker: BrokerAddress, database: str) -> Iterator[IngestService]:
    service = IngestService(belt=belt, broker=broker, conninfo=database, client_id="test-ingest")
    service.start()
    assert service.wait_connected(10)
    yield service
    service.stop()


@pytest.fixture
def publisher(broker: BrokerAddress) -> Iterator[MqttLink]:
    link = MqttLink(broker, client_id="test-publisher")
    link.start()
    assert link.wait_connected(10)
    yield link
    link.stop()


def rows(dsn: str) -> list[tuple[str, int, datetime, int, bool, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT device_id, seq, ts, people, occupied, space_id FROM occupancy_reading ORDER BY device_id, seq"
        ).fetchall()


def stored_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return count_readings(conn)


def envelope_bytes(seq: int, people: int, *, device_id: str = DEVICE, ts: datetime | None = None) -> bytes:
    reading = OccupancyReading(
        people=people, occupied=people > 0, regions=(RegionCount("region1", people, people > 0),), trigger="interval"
    )
    return encode_envelope(occupancy_envelope(device_id, seq, ts or datetime.now(UTC), reading))


def event_topic(device_id: str = DEVICE) -> str:
    return device_topic(SITE, device_id, Channel.EVENT, "occupancy")


def test_a_reading_published_twice_is_stored_once(ingest: IngestService, publisher: MqttLink, database: str) -> None:
    payload = envelope_bytes(seq=41, people=7)
    for _ in range(2):
        assert publisher.publish_and_wait(event_topic(), payload)
    wait_until(lambda: ingest.stats_snapshot()["received"] == 2, what="both copies received")
    assert stored_count(database) == 1
    ((device_id, seq, _ts, people, occupied, space_id),) = rows(database)
    assert (device_id, seq, people, occupied, space_id) == (DEVICE, 41, 7, True, "sharing-space")
    assert ingest.stats_snapshot()["duplicates"] == 1


def test_malformed_envelopes_are_rejected_with_reasons_and_the_good_ones_around_them_stored(
    ingest: IngestService, publisher: MqttLink, database: str
) -> None:
    now = datetime.now(UTC)
    good = json.loads(envelope_bytes(seq=1, people=3))
    wrong_types = {**good, "seq": "two"}
    missing_field = {key: value for key, value in good.items() if key != "ts"}
    nan_count = json.dumps({**good, "seq": 5, "data": {**good["data"], "people": math.nan}}).encode()
    assert b"NaN" in nan_count
    future = {**good, "seq": 6, "ts": (now + timedelta(days=3)).isoformat().replace("+00:00", "Z")}
    other_device = {**good, "seq": 7, "device_id": "complex-party-school-occupancy"}
    bad: list[tuple[str, bytes, str]] = [
        (event_topic(), b"this is not json {", "not_json"),
        (event_topic(), json.dumps(wrong_types).encode(), "schema"),
        (event_topic(), json.dumps(missing_field).encode(), "schema"),
        (event_topic(), b'{"pad": "' + b"x" * (1024 * 1024) + b'"}', "too_large"),
        (event_topic(), nan_count, "non_finite"),
        (event_topic(), json.dumps(future).encode(), "future_timestamp"),
        (event_topic(), json.dumps(other_device).encode(), "device_mismatch"),
        (event_topic("no-such-device"), envelope_bytes(seq=8, people=1, device_id="no-such-device"), "unknown_device"),
        # The ingest subscribes to event topics only: this one matches the filter but its device id is too long.
        ("sc/v1/complex/" + "x" * 70 + "/event/occupancy", envelope_bytes(seq=9, people=1), "bad_topic"),
    ]
    good_seqs = []
    for index, (topic, payload, _reason) in enumerate(bad):
        good_seq = 100 + index
        good_seqs.append(good_seq)
        assert publisher.publish_and_wait(event_topic(), envelope_bytes(seq=good_seq, people=index))
        assert publisher.publish_and_wait(topic, payload, timeout=10)
    assert publisher.publish_and_wait(event_topic(), envelope_bytes(seq=999, people=2))
    expected_total = 2 * len(bad) + 1
    wait_until(lambda: ingest.stats_snapshot()["received"] == expected_total, what="every message received")

    stats = ingest.stats_snapshot()
    expected_reasons: dict[str, int] = {}
    for _topic, _payload, reason in bad:
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    assert stats["rejected"] == expected_reasons
    assert [row[1] for row in rows(database)] == [*good_seqs, 999]
    with psycopg.connect(database) as conn:
        stored = conn.execute("SELECT reason, payload_size FROM ingest_reject ORDER BY id").fetchall()
    assert [reason for reason, _size in stored] == [reason for _t, _p, reason in bad]
    assert max(size for _reason, size in stored) > 1024 * 1024


def test_vendor_reports_normalise_through_the_edge_agent_into_the_database(
    belt: Belt, broker: BrokerAddress, ingest: IngestService, publisher: MqttLink, database: str, tmp_path: Path
) -> None:
    site = belt.site(SITE)
    device = site.device(DEVICE)
    outbox = Outbox(tmp_path / "outbox.sqlite3", site_id=SITE)
    agent = EdgeAgent(site=site, tz=belt.tz, site_broker=broker, central_broker=broker, outbox=outbox)
    agent.start()
    try:
        assert agent.wait_connected(10)
        assert device.vendor_topic is not None
        for _case_id, payload, _observed_at, _reading in VALID_CASES:
            assert publisher.publish_and_wait(device.vendor_topic, payload)
        for _case_id, payload, _reason in MALFORMED_CASES:
            assert publisher.publish_and_wait(device.vendor_topic, payload, timeout=10)
        wait_until(lambda: stored_count(database) == len(VALID_CASES), what="all stored")
        wait_until(lambda: sum(agent.rejected.values()) == len(MALFORMED_CASES), what="all rejected")
        # Deleted from the outbox only on the server's confirmation.
        wait_until(lambda: outbox.stats().depth == 0, what="the outbox emptied by confirmations")
    finally:
        agent.stop()
        outbox.close()

    expected_reasons: dict[str, int] = {}
    for _case_id, _payload, reason in MALFORMED_CASES:
        expected_reasons[str(reason)] = expected_reasons.get(str(reason), 0) + 1
    assert dict(agent.rejected) == expected_reasons
    stored = rows(database)
    assert [seq for _d, seq, *_rest in stored] == list(range(len(VALID_CASES)))
    expected = sorted((observed_at, reading.people, reading.occupied) for _i, _p, observed_at, reading in VALID_CASES)
    assert sorted((ts, people, occupied) for _d, _s, ts, people, occupied, _space in stored) == expected
    assert ingest.stats_snapshot()["stored"] == len(VALID_CASES)
    assert agent.uplink_stats().confirmed == len(VALID_CASES)


def test_a_vendor_report_redelivered_after_the_agent_died_before_acknowledging_it_is_stored_once(
    belt: Belt, broker: BrokerAddress, ingest: IngestService, publisher: MqttLink, database: str, tmp_path: Path
) -> None:
    site = belt.site(SITE)
    device = site.device(DEVICE)
    assert device.vendor_topic is not None
    outbox = Outbox(tmp_path / "outbox.sqlite3", site_id=SITE)
    taken: list[int] = []

    def submit_and_die_before_acknowledging(message: InboundMessage) -> None:
        # What the agent does with a vendor report, up to the acknowledgement it never got to send.
        observed_at, reading = parse_occupancy(model=device.model, payload=message.payload)
        item = Outgoing(DEVICE, Channel.EVENT, "occupancy", OCCUPANCY_SCHEMA, observed_at, occupancy_data(reading))
        taken.append(outbox.submit(item, vendor_payload=message.payload, redelivered=message.dup))

    # The agent's own session at the site broker, so that the unacknowledged report waits there for the agent.
    dying = MqttLink(
        broker,
        client_id=f"sc-edge-{SITE}-devices",
        persistent=True,
        manual_ack=True,
        on_message=submit_and_die_before_acknowledging,
    )
    dying.subscribe(device.vendor_topic, qos=1)
    dying.start()
    try:
        assert dying.wait_connected(10)
        assert publisher.publish_and_wait(device.vendor_topic, VALID_CASES[0][1])
        wait_until(lambda: taken == [0], what="the report taken into the outbox")
    finally:
        dying.stop()

    agent = EdgeAgent(site=site, tz=belt.tz, site_broker=broker, central_broker=broker, outbox=outbox)
    agent.start()
    try:
        assert agent.wait_connected(10)
        wait_until(lambda: agent.redeliveries == 1, what="the report delivered again, flagged DUP")
        wait_until(lambda: outbox.stats().depth == 0, what="the outbox emptied by confirmations")
    finally:
        agent.stop()
        outbox.close()
    assert [seq for _d, seq, *_rest in rows(database)] == [0]
    assert (ingest.stats_snapshot()["stored"], ingest.stats_snapshot()["duplicates"]) == (1, 0)
