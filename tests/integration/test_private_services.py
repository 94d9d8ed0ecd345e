"""Private Mosquitto and PostgreSQL instances start, serve, survive restarts and crashes, and leave nothing behind."""

from __future__ import annotations

import os
import queue
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from server.demo import PrivateMosquitto, PrivatePostgres, ServiceStartError, free_port, is_running
from server.demo.services import wait_until_gone

RECEIVE_TIMEOUT_S = 10.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    instance = PrivateMosquitto(tmp_path / "mosquitto")
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[PrivatePostgres]:
    instance = PrivatePostgres(tmp_path / "postgres")
    instance.start()
    yield instance
    instance.stop()


def _subscriber(broker: PrivateMosquitto, client_id: str, inbox: queue.Queue[bytes]) -> mqtt.Client:
    """A QoS 1 subscriber to `t/#` with a persistent session (clean_session=False), connected and looping."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    subscribed = queue.Queue[bool]()
    client.on_message = lambda _client, _userdata, message: inbox.put(message.payload)
    client.on_subscribe = lambda *_args: subscribed.put(True)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.subscribe("t/#", qos=1)
    subscribed.get(timeout=RECEIVE_TIMEOUT_S)
    return client


def _publish(broker: PrivateMosquitto, payload: bytes) -> None:
    """Publish at QoS 1 and return once the broker has acknowledged it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish("t/reading", payload, qos=1).wait_for_publish(timeout=RECEIVE_TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_private_broker_relays_messages_on_its_own_port(broker: PrivateMosquitto) -> None:
    assert broker.port not in (0, 1883)
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    inbox: queue.Queue[bytes] = queue.Queue()
    subscriber = _subscriber(broker, "relay-sub", inbox)
    try:
        _publish(broker, b"hello")
        assert inbox.get(timeout=RECEIVE_TIMEOUT_S) == b"hello"
    finally:
        _close(subscriber)


def test_private_broker_keeps_queued_message_across_restart(broker: PrivateMosquitto) -> None:
    inbox: queue.Queue[bytes] = queue.Queue()
    _close(_subscriber(broker, "persistent-sub", inbox))  # leaves a session behind
    _publish(broker, b"queued while away")
    old_pid = broker.pid

    broker.stop()
    broker.start()

    assert broker.pid != old_pid
    subscriber = _subscriber(broker, "persistent-sub", inbox)
    try:
        assert inbox.get(timeout=RECEIVE_TIMEOUT_S) == b"queued while away"
    finally:
        _close(subscriber)


def test_private_broker_stop_and_kill_leave_no_process(tmp_path: Path) -> None:
    broker = PrivateMosquitto(tmp_path / "mosquitto")
    with broker:
        pid = broker.pid
        assert pid is not None
        assert is_running(pid)
    assert not is_running(pid)

    broker.start()
    killed_pid = broker.pid
    assert killed_pid is not None
    broker.kill()
    assert not is_running(killed_pid)
    broker.start()  # a SIGKILLed broker's directory is usable again
    broker.stop()


def test_private_broker_refuses_a_port_in_use_with_a_clear_error(broker: PrivateMosquitto, tmp_path: Path) -> None:
    second = PrivateMosquitto(tmp_path / "second", port=broker.port)
    with pytest.raises(ServiceStartError, match=rf"port 127\.0\.0\.1:{broker.port} is already in use"):
        second.start()
    assert second.pid is None


def test_private_postgres_accepts_connections_and_creates_databases(database: PrivatePostgres) -> None:
    assert database.port != 5432
    assert database.conninfo("demo") == f"host=127.0.0.1 port={database.port} user=postgres dbname=demo"
    database.ensure_database("demo")
    database.ensure_database("demo")  # a second call finds it
    with psycopg.connect(database.conninfo("demo")) as conn:
        row = conn.execute("SELECT current_database(), inet_server_port()").fetchone()
    assert row == ("demo", database.port)


def test_private_postgres_recovers_committed_rows_after_crash(database: PrivatePostgres) -> None:
    with psycopg.connect(database.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE reading (seq int PRIMARY KEY)")
        conn.execute("INSERT INTO reading SELECT generate_series(1, 100)")
    crashed_pid = database.pid
    assert crashed_pid is not None

    database.crash()
    assert not is_running(crashed_pid)
    database.start()

    with psycopg.connect(database.conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM reading").fetchone() == (100,)


def test_private_postgres_starts_over_a_stale_postmaster_pid(database: PrivatePostgres) -> None:
    killed_pid = database.pid
    assert killed_pid is not None
    os.kill(killed_pid, signal.SIGKILL)
    assert wait_until_gone(killed_pid, timeout=5.0)  # SIGKILL is delivered asynchronously
    assert (database.data_dir / "postmaster.pid").exists()

    database.start()

    assert database.pid != killed_pid
    with psycopg.connect(database.conninfo()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_private_postgres_stop_leaves_no_process(tmp_path: Path) -> None:
    database = PrivatePostgres(tmp_path / "postgres", port=free_port())
    with database:
        pid = database.pid
        assert pid is not None
        assert is_running(pid)
    assert not is_running(pid)
    assert not (database.data_dir / "postmaster.pid").exists()
