"""Broker credentials and ACLs generated from the site file (`smartcomplex deploy broker-auth`, `deploy init`).

The files are checked twice: as files (the `$7$` hashes against the machine's mosquitto_passwd, passwords kept
across runs, modes, the .env compose reads) and on the machine's Mosquitto running the production configuration
with them (tests/integration/test_production_mosquitto_config.py starts it): anonymous clients are refused, a
device publishes only its own vendor topic, an edge agent hears only its own site, the server hears every site.
A message the ACL refuses is dropped (and its sender acknowledged or disconnected), so each check sends an allowed
marker after it: a refused message that got through would arrive before the marker.
"""

from __future__ import annotations

import queue
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from devices.broker import parse_broker_url
from devices.site import Belt, load_belt
from devices.topics import Channel, agent_status_topic, channel_subscription, event_subscription
from devices.vendors.queue_devices import command_topic
from server.cli import main
from server.deploy import DeployError
from server.deploy.broker_auth import ACL_FILE, CREDENTIALS_FILE, PASSWORD_FILE, broker_url, write_broker_auth
from server.deploy.edge_check import agent_status
from server.deploy.env_file import GENERATED_ONCE, mqtt_password_variable, read_env_values
from server.deploy.mosquitto_passwords import hash_password, parse_password_file, password_matches
from tests.integration.test_production_mosquitto_config import (
    LOOPBACK,
    ConnectionRefused,
    ProductionBroker,
    connected_client,
    production_broker,
    publish_past_the_limit,
    stop,
    subscribed,
)

RECEIVE_TIMEOUT_S = 10.0
QUIET_S = 0.5  # after the marker arrived: nothing refused may follow it
PBKDF2_LINE = re.compile(r"\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionBroker]:
    with production_broker(tmp_path_factory.mktemp("broker-auth")) as running:
        yield running


@pytest.fixture(scope="module")
def belt() -> Belt:
    return load_belt()


def vendor_topic(belt: Belt, device_id: str) -> str:
    topic = belt.device(device_id)[1].vendor_topic
    assert topic is not None
    return topic


def delivered(
    broker: ProductionBroker, *, reader: str, topic_filter: str, writer: str, messages: list[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    """What `reader`, subscribed to `topic_filter`, receives of `messages` published by `writer` at QoS 1, the
    last of which must be one it receives (the marker)."""
    inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscriber = subscribed(broker.client(reader), topic_filter, inbox)
    received: list[tuple[str, bytes]] = []
    try:
        for topic, payload in messages:
            # Mosquitto 2.0.11 answers a refused QoS 1 publish of an MQTT 3.1.1 client by closing its connection:
            # each message gets a connection of its own, and the broker is done with it when this returns.
            assert publish_past_the_limit(broker, writer, topic, payload) in {"acknowledged", "disconnected"}
        while not received or received[-1] != messages[-1]:
            try:
                message = inbox.get(timeout=RECEIVE_TIMEOUT_S)
            except queue.Empty:
                pytest.fail(f"{reader} never received the marker {messages[-1]}; it received {received}")
            received.append((message.topic, message.payload))
        while True:  # anything refused that got through anyway would have come before the marker; and after?
            try:
                message = inbox.get(timeout=QUIET_S)
            except queue.Empty:
                break
            received.append((message.topic, message.payload))
    finally:
        stop(subscriber)
    return received


# ------------------------------------------------------------------------------------------------ the files


def test_hashes_verify_the_way_mosquitto_passwd_makes_them(tmp_path: Path) -> None:
    ours = hash_password("correct horse")
    assert PBKDF2_LINE.fullmatch(ours)
    assert password_matches("correct horse", ours)
    assert not password_matches("correct hors", ours)
    # Debian's mosquitto package (which .ci/run installs) ships it next to the broker.
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    assert Path(tool).exists(), "mosquitto_passwd is missing: install Debian's mosquitto package"
    password_file = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(password_file), "alice", "correct horse"], check=True, timeout=10)
    theirs = parse_password_file(password_file.read_text(encoding="utf-8"), source="mosquitto_passwd")["alice"]
    assert PBKDF2_LINE.fullmatch(theirs)
    assert password_matches("correct horse", theirs)
    assert not password_matches("correct horsE", theirs)


def test_every_mqtt_device_edge_agent_and_program_gets_a_user_and_only_the_owner_can_read_the_files(
    tmp_path: Path, belt: Belt
) -> None:
    auth = write_broker_auth(belt, tmp_path / "auth")
    mqtt_devices = {d.id for site in belt.sites for d in site.devices if d.transport == "mqtt"}
    edges = {f"edge-{site.id}" for site in belt.sites}
    assert set(auth.passwords) == mqtt_devices | edges | {"server", "simulators", "healthcheck"}
    assert len(set(auth.passwords.values())) == len(auth.passwords)
    assert stat.S_IMODE(auth.directory.stat().st_mode) == 0o700
    for name in (PASSWORD_FILE, ACL_FILE, CREDENTIALS_FILE):
        assert stat.S_IMODE((auth.directory / name).stat().st_mode) == 0o600, name
    hashes = parse_password_file((auth.directory / PASSWORD_FILE).read_text(encoding="utf-8"), source="passwd")
    assert all(password_matches(auth.passwords[name], hashes[name]) for name in auth.passwords)


def test_a_second_run_keeps_every_password_and_adds_the_missing_user(tmp_path: Path, belt: Belt) -> None:
    first = write_broker_auth(belt, tmp_path / "auth")
    password_file = (tmp_path / "auth" / PASSWORD_FILE).read_text(encoding="utf-8")
    credentials = tmp_path / "auth" / CREDENTIALS_FILE
    lines = credentials.read_text(encoding="utf-8").splitlines()
    credentials.write_text("\n".join(line for line in lines if not line.startswith("edge-complex=")) + "\n")

    second = write_broker_auth(belt, tmp_path / "auth")

    assert second.added == ("edge-complex",)
    assert second.removed == ()
    assert second.password("edge-complex") != first.password("edge-complex")
    assert {k: v for k, v in second.passwords.items() if k != "edge-complex"} == {
        k: v for k, v in first.passwords.items() if k != "edge-complex"
    }
    # Unchanged users keep their hash line (a new salt would change the file for nothing).
    changed = set(password_file.splitlines()) ^ set((tmp_path / "auth" / PASSWORD_FILE).read_text().splitlines())
    assert {line.partition(":")[0] for line in changed} == {"edge-complex"}


def test_users_the_site_file_no_longer_has_are_dropped(tmp_path: Path, belt: Belt) -> None:
    write_broker_auth(belt, tmp_path / "auth")
    smaller = belt.model_copy(update={"sites": belt.sites[:1]})
    again = write_broker_auth(smaller, tmp_path / "auth")
    assert "edge-affairs-center" in again.removed
    assert "edge-affairs-center" not in (tmp_path / "auth" / ACL_FILE).read_text(encoding="utf-8")
    assert "edge-affairs-center" not in (tmp_path / "auth" / PASSWORD_FILE).read_text(encoding="utf-8")


def test_a_hand_written_password_that_a_url_would_mangle_is_refused(tmp_path: Path, belt: Belt) -> None:
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / CREDENTIALS_FILE).write_text("server=p@ss:word/with#chars-0123\n")
    with pytest.raises(DeployError, match="server must be 16 or more of"):
        write_broker_auth(belt, tmp_path / "auth")


def test_programs_read_back_a_percent_encoded_password_from_their_broker_url() -> None:
    nasty = "p@ss:w/rd?#% é"
    address = parse_broker_url(broker_url("edge-complex", nasty, host="mosquitto"))
    assert (address.username, address.password, address.host, address.port) == (
        "edge-complex",
        nasty,
        "mosquitto",
        1883,
    )


def test_deploy_init_writes_every_secret_compose_needs_and_keeps_them_on_a_second_run(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SC_DB_PASSWORD=chosen-before-init\nSC_LOG_LEVEL=DEBUG\n")
    arguments = ["deploy", "init", "--env-file", str(env_file), "--broker-dir", str(tmp_path / "mosquitto")]
    assert main(arguments) == 0
    values = read_env_values(env_file.read_text(encoding="utf-8"))
    credentials = dict(
        line.split("=", 1)
        for line in (tmp_path / "mosquitto" / CREDENTIALS_FILE).read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert values["SC_DB_PASSWORD"] == "chosen-before-init"  # the database volume was made with it
    assert values["SC_LOG_LEVEL"] == "DEBUG"
    assert all(len(values[name]) >= 32 for name in GENERATED_ONCE if name != "SC_DB_PASSWORD")
    for user in ("server", "simulators", "healthcheck", "edge-complex", "edge-station-changping-west"):
        assert values[mqtt_password_variable(user)] == credentials[user]
    assert not any(mqtt_password_variable(user) in values for user in credentials if user.startswith("complex-"))
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

    assert main(arguments) == 0
    assert read_env_values(env_file.read_text(encoding="utf-8")) == values


# ------------------------------------------------------------------------------------------------ on the broker


def test_anonymous_clients_and_wrong_passwords_are_refused(broker: ProductionBroker) -> None:
    with pytest.raises(ConnectionRefused):
        broker.client(None)
    with pytest.raises(ConnectionRefused):
        connected_client(broker.port, "server", broker.auth.password("edge-complex"))


def test_a_device_publishes_its_own_vendor_topic_and_not_another_devices(broker: ProductionBroker, belt: Belt) -> None:
    own = vendor_topic(belt, "complex-waiting-occupancy")
    other = vendor_topic(belt, "complex-day-care-occupancy")
    received = delivered(
        broker,
        reader="edge-complex",  # hears every device of its site
        topic_filter="#",
        writer="complex-waiting-occupancy",
        messages=[(own, b"mine"), (other, b"forged"), ("sc/v1/complex/x/event/occupancy", b"bypass"), (own, b"end")],
    )
    assert received == [(own, b"mine"), (own, b"end")]


def test_a_queue_device_hears_only_its_own_commands(broker: ProductionBroker, belt: Belt) -> None:
    board = command_topic(vendor_topic(belt, "complex-waiting-display"))
    dispenser = command_topic(vendor_topic(belt, "complex-ticket-dispenser"))
    received = delivered(
        broker,
        reader="complex-waiting-display",
        topic_filter="#",
        writer="edge-complex",  # publishes the /set of every queue device of its site
        messages=[(dispenser, b"print"), (board, b"show")],
    )
    assert received == [(board, b"show")]


def test_the_server_hears_every_site_through_the_ingests_subscriptions(broker: ProductionBroker) -> None:
    for site in ("complex", "station-changping-west"):
        topic = f"sc/v1/{site}/{site}-x/event/occupancy"
        received = delivered(
            broker, reader="server", topic_filter=event_subscription(), writer=f"edge-{site}", messages=[(topic, b"e")]
        )
        assert received == [(topic, b"e")]
    status = "sc/v1/complex/complex-x/status"
    received = delivered(
        broker,
        reader="server",
        topic_filter=channel_subscription(Channel.STATUS),
        writer="edge-complex",
        messages=[(status, b"online")],
    )
    assert received == [(status, b"online")]


def test_an_edge_agent_hears_only_its_own_sites_commands_and_confirmations(broker: ProductionBroker) -> None:
    mine = "sc/v1/affairs-center/affairs-center-door/cmd/unlock"
    received = delivered(
        broker,
        reader="edge-affairs-center",
        topic_filter="sc/v1/#",
        writer="server",
        messages=[
            ("sc/v1/complex/complex-door/cmd/unlock", b"theirs"),
            ("sc/v1/complex/_agent/cmd/confirm", b"theirs"),
            ("sc/v1/affairs-center/_agent/cmd/confirm", b"ok"),
            (mine, b"go"),
        ],
    )
    assert received == [("sc/v1/affairs-center/_agent/cmd/confirm", b"ok"), (mine, b"go")]


def test_an_edge_agent_cannot_speak_for_another_site_and_the_server_cannot_forge_results(
    broker: ProductionBroker,
) -> None:
    marker = ("sc/v1/complex/complex-door/cmd/unlock", b"end")
    received = delivered(
        broker,
        reader="server",
        topic_filter="sc/v1/#",
        writer="server",
        messages=[("sc/v1/complex/complex-door/cmd/unlock/result", b"forged"), marker],
    )
    assert received == [marker]
    own = ("sc/v1/affairs-center/affairs-center-x/event/occupancy", b"end")
    received = delivered(
        broker,
        reader="server",
        topic_filter="sc/v1/#",
        writer="edge-affairs-center",
        messages=[("sc/v1/complex/complex-x/event/occupancy", b"forged"), own],
    )
    assert received == [own]


def test_the_simulators_user_publishes_as_every_mqtt_device(broker: ProductionBroker, belt: Belt) -> None:
    for site in belt.sites:
        topics = [(d.vendor_topic, d.id.encode()) for d in site.devices if d.vendor_topic is not None]
        received = delivered(broker, reader=f"edge-{site.id}", topic_filter="#", writer="simulators", messages=topics)
        assert received == topics


def test_the_edge_healthcheck_reads_its_agents_retained_status(
    broker: ProductionBroker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user = "edge-station-xikang-lane"
    central = parse_broker_url(broker_url(user, broker.auth.password(user), host=LOOPBACK, port=broker.port))
    never = agent_status(central, "station-xikang-lane", timeout_s=2)
    assert not never.healthy
    assert "never connected" in never.reason
    agent = broker.client(user)
    try:
        topic = agent_status_topic("station-xikang-lane")
        agent.publish(topic, b'{"state":"online"}', qos=1, retain=True).wait_for_publish(RECEIVE_TIMEOUT_S)
        assert agent_status(central, "station-xikang-lane").healthy
        # As the container runs it: `smartcomplex deploy check-edge --site S` with the agent's environment.
        url = broker_url(user, broker.auth.password(user), host=LOOPBACK, port=broker.port)
        monkeypatch.setenv("SC_EDGE_CENTRAL_BROKER_URL", url)
        assert main(["deploy", "check-edge", "--site", "station-xikang-lane"]) == 0
        assert capsys.readouterr().out == "sc/v1/station-xikang-lane/_agent/status: online\n"
        agent.publish(topic, b'{"state":"lost"}', qos=1, retain=True).wait_for_publish(RECEIVE_TIMEOUT_S)
        assert agent_status(central, "station-xikang-lane").reason.endswith(": lost")
    finally:
        stop(agent)
    # Another site's agent may not read it: its check sees nothing.
    other = parse_broker_url(
        broker_url("edge-complex", broker.auth.password("edge-complex"), host=LOOPBACK, port=broker.port)
    )
    assert not agent_status(other, "station-xikang-lane", timeout_s=1).healthy
