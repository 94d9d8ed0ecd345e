"""The production broker configuration, run on the machine's Mosquitto: it loads, it answers the compose
healthcheck's subscription, and its payload limit lets oversize envelopes through up to 2 MiB and no further.

Only the listener (a free port on 127.0.0.1) and the persistence directory (the test's own) are changed; every
other line is the file that docker-compose.yml mounts into the eclipse-mosquitto container.
"""

from __future__ import annotations

import queue
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from server.demo.mosquitto import find_mosquitto
from server.demo.services import LOOPBACK, free_port, give_to_account, log_tail, service_account, spawn_as

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
START_TIMEOUT_S = 10.0
# The compose healthcheck gives mosquitto_sub this long (-W 3) to receive one $SYS message.
HEALTHCHECK_WAIT_S = 3.0
RECEIVE_TIMEOUT_S = 10.0
MESSAGE_SIZE_LIMIT = 2 * 1024 * 1024


def local_config(text: str, *, port: int, data_dir: Path) -> str:
    """The production configuration with its listener on 127.0.0.1:`port` and its state in `data_dir`."""
    text, listeners = re.subn(r"^listener 1883$", f"listener {port} {LOOPBACK}", text, flags=re.MULTILINE)
    text, locations = re.subn(r"^persistence_location .*$", f"persistence_location {data_dir}/", text, flags=re.M)
    assert (listeners, locations) == (1, 1), "the configuration's listener or persistence_location moved"
    return text


@pytest.fixture
def broker_port(tmp_path: Path) -> Iterator[int]:
    """A Mosquitto running the production configuration; its port on 127.0.0.1."""
    data_dir = tmp_path / "mosquitto"
    data_dir.mkdir()
    port = free_port()
    config = data_dir / "mosquitto.conf"
    config.write_text(local_config(MOSQUITTO_CONF.read_text(encoding="utf-8"), port=port, data_dir=data_dir))
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
        yield port
    finally:
        process.terminate()
        try:
            process.wait(RECEIVE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def connected_client(port: int) -> mqtt.Client:
    """A client whose CONNECT the broker has accepted (paho refuses to publish before the CONNACK)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"prod-conf-{uuid.uuid4().hex[:8]}")
    accepted = queue.Queue[bool]()
    client.on_connect = lambda _client, _userdata, _flags, reason, _properties: accepted.put(not reason.is_failure)
    client.connect(LOOPBACK, port)
    client.loop_start()
    assert accepted.get(timeout=RECEIVE_TIMEOUT_S)
    return client


def subscribed(port: int, topic: str, inbox: queue.Queue[mqtt.MQTTMessage]) -> mqtt.Client:
    """A client subscribed to `topic` at QoS 1, every message it receives put in `inbox`."""
    client = connected_client(port)
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


def test_a_fresh_broker_answers_the_healthcheck_subscription_at_once(broker_port: int) -> None:
    inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    started = time.monotonic()
    client = subscribed(broker_port, "$SYS/#", inbox)
    try:
        message = inbox.get(timeout=HEALTHCHECK_WAIT_S)
    finally:
        stop(client)
    assert message.topic.startswith("$SYS/broker/")
    assert time.monotonic() - started < HEALTHCHECK_WAIT_S


def publish_past_the_limit(port: int, topic: str, payload: bytes) -> str:
    """Publish `payload` at QoS 1 from a client of its own; how the broker dealt with it.

    Mosquitto 2.0.11 answers a payload over message_size_limit with a PUBACK (and drops it) or, in about half
    of our trials, by closing the connection. Either way the broker is done with it when this returns.
    """
    client = connected_client(port)
    outcome = queue.Queue[str]()
    client.on_publish = lambda *_args: outcome.put("acknowledged")
    client.on_disconnect = lambda *_args: outcome.put("disconnected")
    client.publish(topic, payload, qos=1)
    try:
        return outcome.get(timeout=RECEIVE_TIMEOUT_S)
    finally:
        stop(client)  # before paho's reconnect (1 s later at the earliest) could send the payload again


def test_payloads_up_to_2_mib_are_delivered_and_larger_ones_are_not(broker_port: int) -> None:
    topic = "sc/v1/test/dev-1/event/occupancy"
    inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscriber = subscribed(broker_port, "sc/v1/test/#", inbox)
    publisher = connected_client(broker_port)
    oversize_envelope = b"x" * (1024 * 1024)  # far beyond our 64 KiB envelopes: the ingest must see it
    try:
        publisher.publish(topic, oversize_envelope, qos=1).wait_for_publish(RECEIVE_TIMEOUT_S)
        assert publish_past_the_limit(broker_port, topic, b"y" * (MESSAGE_SIZE_LIMIT + 1)) in {
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
