"""The production broker configuration, run on the machine's Mosquitto: it loads, it answers the compose
healthcheck's subscription, and its payload limit lets oversize envelopes through up to 2 MiB and no further.

Only the listener (a free port on 127.0.0.1), the persistence directory and the password and ACL files (the
test's own, generated for the shipped site file by server.deploy.broker_auth and owned by the account the broker
runs as, as the container's command leaves them) are changed; every other line is the file that
docker-compose.yml mounts into the eclipse-mosquitto container. :func:`production_broker` is shared with
tests/integration/test_broker_auth.py.
"""

from __future__ import annotations

import queue
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.site import load_belt
from server.demo.mosquitto import find_mosquitto
from server.demo.services import LOOPBACK, free_port, give_to_account, log_tail, service_account, spawn_as
from server.deploy.broker_auth import ACL_FILE, PASSWORD_FILE, BrokerAuth, write_broker_auth

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
START_TIMEOUT_S = 10.0
# The compose healthcheck gives mosquitto_sub this long (-W 3) to receive one $SYS message.
HEALTHCHECK_WAIT_S = 3.0
RECEIVE_TIMEOUT_S = 10.0
MESSAGE_SIZE_LIMIT = 2 * 1024 * 1024


def local_config(text: str, *, port: int, data_dir: Path, auth_dir: Path) -> str:
    """The production configuration with its listener on 127.0.0.1:`port`, its state in `data_dir` and its
    password and ACL files in `auth_dir`."""
    replacements = {
        r"^listener 1883$": f"listener {port} {LOOPBACK}",
        r"^persistence_location .*$": f"persistence_location {data_dir}/",
        r"^password_file .*$": f"password_file {auth_dir / PASSWORD_FILE}",
        r"^acl_file .*$": f"acl_file {auth_dir / ACL_FILE}",
    }
    for pattern, line in replacements.items():
        text, count = re.subn(pattern, line, text, flags=re.MULTILINE)
        assert count == 1, f"the configuration no longer has one line matching {pattern}"
    return text


@dataclass(frozen=True, slots=True)
class ProductionBroker:
    port: int
    auth: BrokerAuth  # every user of the shipped site file, with its password

    def client(self, username: str | None) -> mqtt.Client:
        """A connected client logged in as `username` (None: anonymous)."""
        return connected_client(self.port, username, None if username is None else self.auth.password(username))


@contextmanager
def production_broker(directory: Path) -> Iterator[ProductionBroker]:
    """A Mosquitto running the production configuration with the shipped site file's users, in `directory`."""
    data_dir = directory / "mosquitto"
    data_dir.mkdir()
    auth = write_broker_auth(load_belt(), data_dir / "auth")
    port = free_port()
    config = data_dir / "mosquitto.conf"
    text = MOSQUITTO_CONF.read_text(encoding="utf-8")
    config.write_text(local_config(text, port=port, data_dir=data_dir, auth_dir=auth.directory))
    account = service_account("mosquitto", fallback="nobody")  # None unless we are root
    give_to_account(data_dir, account)
    log_path = data_dir / "mosquitto.log"
    process = spawn_as(account, [str(find_mosquitto()), "-c", str(config)], cwd=data_dir, log_path=log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"mosquitto refused the configuration:\n{log_tail(log_path)}"
            try:
                socket.create_connection((LOOPBACK, port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"mosquitto did not listen:\n{log_tail(log_path)}"
                time.sleep(0.05)
        yield ProductionBroker(port=port, auth=auth)
    finally:
        process.terminate()
        try:
            process.wait(RECEIVE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ProductionBroker]:
    with production_broker(tmp_path) as running:
        yield running


class ConnectionRefused(Exception):
    """The broker answered CONNECT with a failure (bad credentials: "not authorised")."""


def connected_client(port: int, username: str | None = None, password: str | None = None) -> mqtt.Client:
    """A client whose CONNECT the broker has accepted (paho refuses to publish before the CONNACK);
    ConnectionRefused when it was refused."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"prod-conf-{uuid.uuid4().hex[:8]}")
    if username is not None:
        client.username_pw_set(username, password)
    accepted = queue.Queue[bool]()
    client.on_connect = lambda _client, _userdata, _flags, reason, _properties: accepted.put(not reason.is_failure)
    client.connect(LOOPBACK, port)
    client.loop_start()
    if not accepted.get(timeout=RECEIVE_TIMEOUT_S):
        stop(client)
        raise ConnectionRefused(f"the broker refused {username or 'an anonymous client'}")
    return client


def subscribed(client: mqtt.Client, topic: str, inbox: queue.Queue[mqtt.MQTTMessage]) -> mqtt.Client:
    """`client` subscribed to `topic` at QoS 1, every message it receives put in `inbox`."""
    acknowledged = queue.Queue[bool]()
    client.on_message = lambda _client, _userdata, message: inbox.put(message)
    client.on_subscribe = lambda *_args: acknowledged.put(True)
    client.subscribe(topic, qos=1)
    acknowledged.get(timeout=RECEIVE_TIMEOUT_S)
    return client


def stop(*clients: mqtt.Client) -> None:
    for client in clients:
        client.disconnect()
        client.loop_stop()


def test_a_fresh_broker_answers_the_healthcheck_subscription_at_once(broker: ProductionBroker) -> None:
    inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    started = time.monotonic()
    client = subscribed(broker.client("healthcheck"), "$SYS/#", inbox)  # the user of the compose healthcheck
    try:
        message = inbox.get(timeout=HEALTHCHECK_WAIT_S)
    finally:
        stop(client)
    assert message.topic.startswith("$SYS/broker/")
    assert time.monotonic() - started < HEALTHCHECK_WAIT_S


def publish_past_the_limit(broker: ProductionBroker, username: str, topic: str, payload: bytes) -> str:
    """Publish `payload` at QoS 1 from a client of its own, logged in as `username`; how the broker dealt with it.

    Mosquitto 2.0.11 answers a payload over message_size_limit with a PUBACK (and drops it) or, in about half
    of our trials, by closing the connection; a publish the ACL refuses, by closing it. Either way the broker is
    done with it when this returns.
    """
    client = broker.client(username)
    outcome = queue.Queue[str]()
    client.on_publish = lambda *_args: outcome.put("acknowledged")
    client.on_disconnect = lambda *_args: outcome.put("disconnected")
    client.publish(topic, payload, qos=1)
    try:
        return outcome.get(timeout=RECEIVE_TIMEOUT_S)
    finally:
        stop(client)  # before paho's reconnect (1 s later at the earliest) could send the payload again


def test_payloads_up_to_2_mib_are_delivered_and_larger_ones_are_not(broker: ProductionBroker) -> None:
    # An edge agent's envelope to the server's ingest, each logged in as itself.
    topic = "sc/v1/complex/dev-1/event/occupancy"
    inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscriber = subscribed(broker.client("server"), "sc/v1/complex/#", inbox)
    publisher = broker.client("edge-complex")
    oversize_envelope = b"x" * (1024 * 1024)  # far beyond our 64 KiB envelopes: the ingest must see it
    try:
        publisher.publish(topic, oversize_envelope, qos=1).wait_for_publish(RECEIVE_TIMEOUT_S)
        assert publish_past_the_limit(broker, "edge-complex", topic, b"y" * (MESSAGE_SIZE_LIMIT + 1)) in {
            "acknowledged",
            "disconnected",
        }
        # The broker handles one packet at a time, and it had finished with the big one: had it forwarded
        # that payload, it would arrive before the marker.
        publisher.publish(topic, b"marker", qos=1).wait_for_publish(RECEIVE_TIMEOUT_S)
        received = [inbox.get(timeout=RECEIVE_TIMEOUT_S).payload for _ in range(2)]
    finally:
        stop(publisher, subscriber)
    assert received == [oversize_envelope, b"marker"]
    assert inbox.empty()
