"""Devices and commands through the whole server: the app (its ingest and its command link) against a private
Mosquitto and a real PostgreSQL, with a small fake edge agent that answers commands the way the real one does."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.broker import BrokerAddress
from devices.commands import Command, decode_command
from devices.device_status import StatusReport, encode_status
from devices.envelope import Envelope, encode_envelope
from devices.events import COMMAND_RESULT_SCHEMA
from devices.mqtt_link import InboundMessage, MqttLink
from devices.site import load_belt
from devices.topics import Channel, agent_status_topic, command_result_topic, device_topic, parse_device_topic
from server.app import create_app
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto, free_port
from server.domain.accounts import Role
from server.settings import ServerSettings
from tests.integration.account_fixtures import bearer, make_account
from tests.waiting import wait_until

SITE = "complex"
DOOR = "complex-sharing-space-door"
SILENT_DOOR = "complex-council-hall-door"  # no fake edge answers for it
BOARD = "complex-waiting-display"
# Commands expire after TTL_S; with GRACE_S more and no answer they read as unanswered.
TTL_S = 2.0
GRACE_S = 1.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerAddress]:
    with PrivateMosquitto(tmp_path / "mosquitto") as mosquitto:
        yield BrokerAddress("127.0.0.1", mosquitto.port)


@pytest.fixture
def root() -> str:
    return f"test-{uuid.uuid4().hex[:8]}/sc"


@pytest.fixture
def database(pg_dsn: str) -> str:
    apply_migrations(pg_dsn)
    return pg_dsn


StartApp = Callable[[], AbstractContextManager[TestClient]]


@pytest.fixture
def start_app(broker: BrokerAddress, database: str, root: str) -> StartApp:
    """Starts the app (ingest and command link connected) when called; each test publishes what it needs first."""

    @contextmanager
    def started() -> Iterator[TestClient]:
        settings = ServerSettings(
            database_url=database,
            mqtt_url=f"mqtt://{broker.host}:{broker.port}",
            topic_root=root,
            ingest_client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
            command_ttl_s=TTL_S,
            command_answer_grace_s=GRACE_S,
        )
        app = create_app(settings, belt=load_belt())
        _staff, token = make_account(database, "duty-officer", Role.STAFF)
        with TestClient(app, headers=bearer(token)) as client:
            assert app.state.ingest.wait_connected(10)
            wait_until(lambda: app.state.commands.broker_connected, timeout=10, what="the command link")
            yield client

    return started


class FakeEdge:
    """Answers every command to DOOR like the site agent: a command_result.v1 envelope on cmd/<action>/result."""

    def __init__(self, broker: BrokerAddress, root: str) -> None:
        self.received: list[tuple[str, Command]] = []
        self._root = root
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.link = MqttLink(broker, client_id=f"fake-edge-{uuid.uuid4().hex[:8]}", on_message=self._answer)
        self.link.subscribe(device_topic(SITE, DOOR, Channel.CMD, "unlock", root=root), qos=1)

    def _answer(self, message: InboundMessage) -> None:
        topic = parse_device_topic(message.topic, root=self._root)
        assert topic.name is not None
        command = decode_command(message.payload, action=topic.name)
        with self._lock:
            self.received.append((message.topic, command))
            seq = next(self._seq)
        data = {"command_id": command.command_id, "action": command.action, "status": "done", "data": {"held_s": 5}}
        envelope = Envelope(COMMAND_RESULT_SCHEMA, DOOR, datetime.now(UTC), seq, data)
        # From paho's network thread: publish only, never wait for the acknowledgement here.
        self.link.publish(command_result_topic(SITE, DOOR, command.action, root=self._root), encode_envelope(envelope))


@pytest.fixture
def edge(broker: BrokerAddress, root: str) -> Iterator[FakeEdge]:
    fake = FakeEdge(broker, root)
    fake.link.start()
    assert fake.link.wait_connected(10)
    yield fake
    fake.link.stop()


def test_a_command_the_edge_answers_comes_back_done_within_the_wait(
    start_app: StartApp, edge: FakeEdge, database: str, root: str
) -> None:
    with start_app() as client:
        response = client.post(
            f"/api/v1/sites/{SITE}/devices/{DOOR}/commands/unlock", json={"args": {"seconds": 7}, "wait_s": 8}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["result"], body["args"], body["device_id"]) == (
            "done",
            {"held_s": 5},
            {"seconds": 7},
            DOOR,
        )
        ((topic, command),) = edge.received
        assert topic == device_topic(SITE, DOOR, Channel.CMD, "unlock", root=root)
        assert (command.command_id, dict(command.args)) == (body["command_id"], {"seconds": 7})
        assert command.expires_at - command.issued_at == timedelta(seconds=TTL_S)

        again = client.get(f"/api/v1/commands/{body['command_id']}")
        assert (again.status_code, again.json()["status"]) == (200, "done")
    with psycopg.connect(database) as conn:
        kinds = conn.execute("SELECT kind, data->>'command_id' FROM device_event").fetchall()
    assert kinds == [("command_result", body["command_id"])]


def test_without_waiting_a_command_is_accepted_as_sent_and_its_answer_arrives_later(
    start_app: StartApp, edge: FakeEdge
) -> None:
    with start_app() as client:
        response = client.post(f"/api/v1/sites/{SITE}/devices/{DOOR}/commands/unlock", json={})
        assert (response.status_code, response.json()["status"]) == (202, "sent")
        command_id = response.json()["command_id"]
        wait_until(
            lambda: client.get(f"/api/v1/commands/{command_id}").json()["status"] == "done",
            what="the edge's answer recorded by the ingest",
        )


def test_a_command_nobody_answers_ends_unanswered(start_app: StartApp) -> None:
    with start_app() as client:
        response = client.post(f"/api/v1/sites/{SITE}/devices/{SILENT_DOOR}/commands/unlock", json={"wait_s": 0.5})
        assert (response.status_code, response.json()["status"]) == (202, "sent")
        command_id = response.json()["command_id"]
        wait_until(
            lambda: client.get(f"/api/v1/commands/{command_id}").json()["status"] == "unanswered",
            timeout=TTL_S + GRACE_S + 10,
            what="the command to read as unanswered",
        )
        body = client.get(f"/api/v1/commands/{command_id}").json()
        assert (body["answered_at"], body["result"]) == (None, None)


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        (f"/api/v1/sites/nowhere/devices/{DOOR}/commands/unlock", {}, 404, "nowhere"),
        (f"/api/v1/sites/{SITE}/devices/no-such-door/commands/unlock", {}, 404, "no-such-door"),
        (f"/api/v1/sites/{SITE}/devices/{BOARD}/commands/unlock", {}, 422, "display"),
        (f"/api/v1/sites/{SITE}/devices/{DOOR}/commands/dance", {}, 422, "unlock"),
        (f"/api/v1/sites/{SITE}/devices/{DOOR}/commands/unlock", {"args": {"seconds": 99}}, 422, "args.seconds"),
        (f"/api/v1/sites/{SITE}/devices/{DOOR}/commands/unlock", {"args": {"secs": 5}}, 422, "args.secs"),
        (f"/api/v1/sites/{SITE}/devices/{DOOR}/commands/unlock", {"wait_s": 11}, 422, "wait_s"),
    ],
    ids=[
        "unknown-site",
        "unknown-device",
        "action-the-model-does-not-take",
        "unknown-action",
        "args-out-of-range",
        "unknown-arg",
        "wait-too-long",
    ],
)
def test_wrong_commands_are_refused_and_nothing_is_sent(
    start_app: StartApp,
    edge: FakeEdge,
    database: str,
    path: str,
    body: dict[str, object],
    status: int,
    detail: str,
) -> None:
    with start_app() as client:
        response = client.post(path, json=body)
    assert response.status_code == status
    assert detail in str(response.json()["detail"])
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM device_command").fetchone() == (0,)
    assert edge.received == []


def test_an_unknown_command_id_is_not_found(start_app: StartApp) -> None:
    with start_app() as client:
        response = client.get("/api/v1/commands/0123456789abcdef")
    assert response.status_code == 404
    assert "0123456789abcdef" in response.json()["detail"]


def test_devices_show_the_health_their_agent_published_retained_before_the_server_started(
    start_app: StartApp, broker: BrokerAddress, root: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    report = StatusReport("offline", now - timedelta(minutes=2), now - timedelta(minutes=3), "no answer", now)
    publisher = MqttLink(broker, client_id=f"test-status-{uuid.uuid4().hex[:8]}")
    publisher.start()
    try:
        assert publisher.wait_connected(10)
        status_topic = device_topic(SITE, DOOR, Channel.STATUS, root=root)
        assert publisher.publish_and_wait(status_topic, encode_status(report), retain=True)
        assert publisher.publish_and_wait(agent_status_topic(SITE, root=root), b'{"state":"online"}', retain=True)
    finally:
        publisher.stop()

    with start_app() as client:

        def door_health() -> dict[str, object]:
            devices = client.get(f"/api/v1/sites/{SITE}/devices").json()["devices"]
            health: dict[str, object] = next(d for d in devices if d["id"] == DOOR)["health"]
            return health

        wait_until(lambda: door_health()["state"] == "offline", what="the retained status stored")
        listing = client.get(f"/api/v1/sites/{SITE}/devices").json()

    assert listing["agent"]["state"] == "online"
    by_id = {device["id"]: device for device in listing["devices"]}
    assert set(by_id) == {device.id for device in load_belt().site(SITE).devices}
    door = by_id[DOOR]
    assert (door["model"], door["space"], door["actions"]) == ("modbus-door-controller", "sharing-space", ["unlock"])
    assert door["health"]["detail"] == "no answer"
    assert datetime.fromisoformat(door["health"]["since"]) == now - timedelta(minutes=2)
    assert by_id[BOARD]["health"]["state"] == "unknown"
    assert by_id[BOARD]["actions"] == ["display"]


def test_commands_are_refused_with_503_while_the_broker_is_unreachable(database: str) -> None:
    settings = ServerSettings(database_url=database, mqtt_url=f"mqtt://127.0.0.1:{free_port()}", ingest_enabled=False)
    _staff, token = make_account(database, "duty-officer", Role.STAFF)
    with TestClient(create_app(settings, belt=load_belt()), headers=bearer(token)) as client:
        response = client.post(f"/api/v1/sites/{SITE}/devices/{DOOR}/commands/unlock", json={})
    assert response.status_code == 503
    assert "not connected" in response.json()["detail"]
    assert response.headers["Retry-After"] == "5"
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM device_command").fetchone() == (0,)


def test_commands_are_for_staff_of_the_site_only(start_app: StartApp, database: str) -> None:
    _resident, resident_token = make_account(database, "resident-1", Role.RESIDENT)
    _other, other_site_token = make_account(database, "other-site-staff", Role.STAFF, site_id="affairs-center")
    path = f"/api/v1/sites/{SITE}/devices/{DOOR}/commands/unlock"
    with start_app() as client:
        assert client.post(path, json={}, headers={"Authorization": ""}).status_code == 401
        assert client.post(path, json={}, headers=bearer(resident_token)).status_code == 403
        assert client.post(path, json={}, headers=bearer(other_site_token)).status_code == 403
        sent = client.post(path, json={})
        assert sent.status_code in (200, 202)
        command_id = sent.json()["command_id"]
        assert client.get(f"/api/v1/commands/{command_id}", headers=bearer(other_site_token)).status_code == 404
    with psycopg.connect(database) as connection:
        (issued,) = connection.execute("SELECT count(*) FROM device_command").fetchone() or (0,)
    assert issued == 1, "refused requests sent nothing"
