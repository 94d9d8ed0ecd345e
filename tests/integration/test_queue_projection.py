"""The centre's copy of a site's queue, through the real ingest: the agent's queue.v1 envelopes over a private
Mosquitto into PostgreSQL (queue_event, queue_ticket, queue_board), confirmed to the agent, once only, never
turned back by an older event; and what else comes as ``_agent`` refused with a reason."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devices.broker import BrokerAddress
from devices.commands import new_command
from devices.confirmations import confirmation_topic, decode_confirmation
from devices.envelope import Envelope, encode_envelope
from devices.events import COMMAND_RESULT_SCHEMA
from devices.mqtt_link import InboundMessage, MqttLink
from devices.queue_contract import QUEUE_SCHEMA
from devices.site import Belt, load_belt
from devices.topics import AGENT_DEVICE_ID, Channel, command_result_topic, device_topic
from server.db.commands import get_command, insert_command
from server.db.migrate import apply_migrations
from server.db.queue import load_board, load_ticket, recent_calls
from server.demo import PrivateMosquitto
from server.ingest.service import IngestService
from tests.browser.display_helpers import ScriptedAgent
from tests.waiting import wait_until

SITE = "complex"


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
def confirmations(broker: BrokerAddress) -> Iterator[list[dict[str, list[tuple[int, int]]]]]:
    """What the server confirms to the complex's agent, as decoded confirmations."""
    received: list[dict[str, list[tuple[int, int]]]] = []
    lock = threading.Lock()

    def keep(message: InboundMessage) -> None:
        with lock:
            received.append(decode_confirmation(message.payload))

    link = MqttLink(broker, client_id="test-agent-confirmations", on_message=keep)
    link.subscribe(confirmation_topic(SITE), qos=1)
    link.start()
    assert link.wait_connected(10)
    yield received
    link.stop()


@pytest.fixture
def publisher(broker: BrokerAddress) -> Iterator[MqttLink]:
    link = MqttLink(broker, client_id="test-publisher")
    link.start()
    assert link.wait_connected(10)
    yield link
    link.stop()


@pytest.fixture
def agent() -> ScriptedAgent:
    return ScriptedAgent(
        site_id=SITE,
        prefixes={"party-building": "A", "party-mass": "B"},
        windows={"window-1": ["party-building", "party-mass"]},
    )


def rows(dsn: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def event_count(dsn: str) -> int:
    return int(rows(dsn, "SELECT count(*) FROM queue_event")[0][0])


def confirmed_agent_seqs(received: list[dict[str, list[tuple[int, int]]]]) -> set[int]:
    return {
        seq
        for confirmation in list(received)
        for first, last in confirmation.get(AGENT_DEVICE_ID, [])
        for seq in range(first, last + 1)
    }


def test_queue_events_become_the_event_log_the_ticket_and_the_board_and_are_confirmed_to_the_agent(
    ingest: IngestService,
    publisher: MqttLink,
    agent: ScriptedAgent,
    database: str,
    confirmations: list[dict[str, list[tuple[int, int]]]],
) -> None:
    agent.send(publisher, agent.open_window("window-1"))
    agent.send(publisher, agent.issue("party-mass"))
    agent.send(publisher, agent.issue("party-mass"))
    agent.send(publisher, agent.call_next("window-1"))
    wait_until(lambda: event_count(database) == 4, what="four queue events stored")
    wait_until(lambda: confirmed_agent_seqs(confirmations) == {1, 2, 3, 4}, what="seqs 1-4 confirmed to _agent")

    assert rows(database, "SELECT seq, kind, number, window_id FROM queue_event ORDER BY seq") == [
        (1, "window_opened", None, "window-1"),
        (2, "issued", "B001", None),
        (3, "issued", "B002", None),
        (4, "called", "B001", "window-1"),
    ]
    with psycopg.connect(database) as conn:
        first = load_ticket(conn, site_id=SITE, day=date.fromisoformat(agent.day), number="B001")
        second = load_ticket(conn, site_id=SITE, day=date.fromisoformat(agent.day), number="B002")
        board = load_board(conn, site_id=SITE)
        calls = recent_calls(conn, site_id=SITE)
    assert first is not None
    assert second is not None
    assert board is not None
    assert first == agent.tickets["B001"]  # the ticket as the agent sent it, times and all
    assert (first.status, first.window) == ("called", "window-1")
    assert second.status == "waiting"
    assert board.seq == 4
    assert [(w.id, w.open, w.serving) for w in board.windows] == [("window-1", True, "B001")]
    assert {s.id: s.waiting for s in board.services} == {"party-building": 0, "party-mass": 1}
    assert [(c.number, c.window_id, c.kind) for c in calls] == [("B001", "window-1", "called")]
    assert rows(database, "SELECT last_seq FROM queue_ticket WHERE number = 'B001'") == [(4,)]


def test_a_replayed_queue_event_inserts_nothing_and_is_confirmed_again(
    ingest: IngestService,
    publisher: MqttLink,
    agent: ScriptedAgent,
    database: str,
    confirmations: list[dict[str, list[tuple[int, int]]]],
) -> None:
    issued = agent.issue("party-building")
    payload = agent.envelope(issued)
    for _ in range(3):
        assert publisher.publish_and_wait(agent.topic, payload)
    wait_until(lambda: ingest.stats_snapshot()["received"] == 3, what="three copies received")
    wait_until(lambda: ingest.stats_snapshot()["confirmed"] == 3, what="each copy confirmed")
    assert event_count(database) == 1
    assert rows(database, "SELECT number, status, last_seq FROM queue_ticket") == [("A001", "waiting", 1)]
    assert ingest.stats_snapshot()["duplicates"] == 2
    assert confirmed_agent_seqs(confirmations) == {1}


def test_an_older_event_arriving_late_never_turns_a_ticket_or_the_board_back(
    ingest: IngestService, publisher: MqttLink, agent: ScriptedAgent, database: str
) -> None:
    opened, issued, called = agent.open_window("window-1"), agent.issue("party-mass"), agent.call_next("window-1")
    assert publisher.publish_and_wait(agent.topic, agent.envelope(opened, seq=1))
    assert publisher.publish_and_wait(agent.topic, agent.envelope(called, seq=3))
    wait_until(lambda: event_count(database) == 2, what="the call stored")
    assert publisher.publish_and_wait(agent.topic, agent.envelope(issued, seq=2))  # late: a resend after a cut
    wait_until(lambda: event_count(database) == 3, what="the late issue stored in the log")

    assert rows(database, "SELECT status, window_id, last_seq FROM queue_ticket WHERE number = 'B001'") == [
        ("called", "window-1", 3)
    ]
    with psycopg.connect(database) as conn:
        board = load_board(conn, site_id=SITE)
    assert board is not None
    assert (board.seq, board.windows[0].serving) == (3, "B001")


def test_what_else_comes_as_the_agent_is_refused_with_a_reason(
    ingest: IngestService, publisher: MqttLink, agent: ScriptedAgent, database: str
) -> None:
    now = datetime.now(UTC)
    door = encode_envelope(Envelope("door.v1", AGENT_DEVICE_ID, now, 7, {"door": "main", "state": "open"}))
    queue_data = agent.issue("party-mass").model_dump(mode="json")
    bad_time = encode_envelope(Envelope(QUEUE_SCHEMA, AGENT_DEVICE_ID, now, 8, {**queue_data, "at": "yesterday"}))
    as_device = encode_envelope(Envelope(QUEUE_SCHEMA, "complex-waiting-display", now, 9, queue_data))
    refused = [
        (agent.topic, door, "schema"),
        (device_topic(SITE, AGENT_DEVICE_ID, Channel.EVENT, "door"), door, "bad_topic"),
        (agent.topic, bad_time, "schema"),
        (
            device_topic("nowhere", AGENT_DEVICE_ID, Channel.EVENT, "queue"),
            agent.envelope(agent.issue("party-building")),
            "unknown_device",
        ),
        (device_topic(SITE, "complex-waiting-display", Channel.EVENT, "queue"), as_device, "schema"),
    ]
    for topic, payload, _reason in refused:
        assert publisher.publish_and_wait(topic, payload)
    wait_until(lambda: sum(ingest.stats_snapshot()["rejected"].values()) == len(refused), what="all refused")

    stored = rows(database, "SELECT topic, reason, detail FROM ingest_reject ORDER BY id")
    assert [(topic, reason) for topic, reason, _detail in stored] == [(t, r) for t, _p, r in refused]
    details = [detail for _topic, _reason, detail in stored]
    assert "door.v1" in details[0]
    assert QUEUE_SCHEMA in details[0]
    assert "event/queue only" in details[1]
    assert "data.at" in details[2]
    assert "edge agent" in details[4]
    assert event_count(database) == 0


def test_the_agents_answer_to_a_take_command_is_recorded_on_the_command(
    ingest: IngestService, publisher: MqttLink, agent: ScriptedAgent, database: str
) -> None:
    now = datetime.now(UTC)
    command = new_command("take-1", "take", {"service": "party-mass"}, now=now, ttl=timedelta(seconds=30))
    with psycopg.connect(database) as conn:
        insert_command(conn, site_id=SITE, device_id=AGENT_DEVICE_ID, command=command)
        conn.commit()
    ticket = agent.issue("party-mass").ticket
    assert ticket is not None
    result = {
        "command_id": "take-1",
        "action": "take",
        "status": "done",
        "detail": "",
        "data": {"ticket": ticket.model_dump(mode="json"), "event": "issued"},
    }
    payload = encode_envelope(Envelope(COMMAND_RESULT_SCHEMA, AGENT_DEVICE_ID, now, 11, result))
    assert publisher.publish_and_wait(command_result_topic(SITE, AGENT_DEVICE_ID, "take"), payload)
    wait_until(lambda: ingest.stats_snapshot()["events"] == 1, what="the answer stored")

    with psycopg.connect(database) as conn:
        record = get_command(conn, command_id="take-1")
    assert record is not None
    assert record.status == "done"
    assert record.result_data is not None
    assert record.result_data["ticket"]["number"] == "B001"
    assert rows(database, "SELECT device_id, seq, kind FROM device_event") == [(AGENT_DEVICE_ID, 11, "command_result")]
    assert json.loads(json.dumps(record.result_data))["event"] == "issued"
