"""The release warning on the room's panel: a display command through a private Mosquitto, sent after the commit,
its outcome written into the warning's audit event."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from devices.broker import BrokerAddress
from devices.commands import Command, decode_command
from devices.mqtt_link import InboundMessage, MqttLink
from devices.site import load_belt
from devices.topics import Channel, device_topic
from server.commands import CommandService
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto
from server.release.scheduler import ReleaseScheduler
from server.settings import ServerSettings
from tests.integration.release_world import (
    PANEL,
    SITE,
    T0,
    ManualClock,
    add_account,
    add_booking,
    add_readings,
    events,
    minutes,
)
from tests.waiting import wait_until


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerAddress]:
    with PrivateMosquitto(tmp_path / "mosquitto") as mosquitto:
        yield BrokerAddress("127.0.0.1", mosquitto.port)


class FakePanel:
    """Records the display commands the room panel of the Sharing Space receives."""

    def __init__(self, broker: BrokerAddress, root: str) -> None:
        self.commands: list[Command] = []
        self._lock = threading.Lock()
        self.link = MqttLink(broker, client_id=f"fake-panel-{uuid.uuid4().hex[:8]}", on_message=self._receive)
        self.link.subscribe(device_topic(SITE, PANEL, Channel.CMD, "display", root=root), qos=1)

    def _receive(self, message: InboundMessage) -> None:
        with self._lock:
            self.commands.append(decode_command(message.payload, action="display"))


def test_the_release_warning_is_shown_on_the_room_panel_and_the_audit_trail_says_so(
    pg_dsn: str, broker: BrokerAddress
) -> None:
    apply_migrations(pg_dsn)
    root = f"test-{uuid.uuid4().hex[:8]}/sc"
    owner = add_account(pg_dsn, "owner")
    booking = add_booking(pg_dsn, owner=owner, start=T0, end=T0 + minutes(60))
    add_readings(pg_dsn, people=0, start=T0 - minutes(20), end=T0 + minutes(60))
    panel = FakePanel(broker, root)
    command_link = MqttLink(broker, client_id=f"test-commands-{uuid.uuid4().hex[:8]}")
    clock = ManualClock(T0 + minutes(5))
    settings = ServerSettings(database_url=pg_dsn, topic_root=root, scheduler_max_sleep_s=0.05)
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, name="commands") as pool:
        belt = load_belt()
        commands = CommandService(belt=belt, pool=pool, link=command_link, topic_root=root)
        scheduler = ReleaseScheduler(belt=belt, conninfo=pg_dsn, clock=clock, settings=settings, commands=commands)
        panel.link.start()
        command_link.start()
        try:
            assert panel.link.wait_connected(10)
            assert command_link.wait_connected(10)
            scheduler.start()
            wait_until(lambda: len(panel.commands) == 1, what="the display command at the room panel")
            wait_until(
                lambda: str(events(pg_dsn, booking, "warned")[0][2]["panel"]).startswith(f"sent to {PANEL}: command"),
                what="the outcome in the warning's event",
            )
        finally:
            scheduler.stop()
            command_link.stop()
            panel.link.stop()

    (command,) = panel.commands
    assert command.args["text"] == "RELEASE 10:10"  # local time (Shanghai) of the release
    lines = ["Sharing Space", "Nobody has checked in", "Released at 10:10", "unless somebody arrives"]
    assert command.args["lines"] == lines
    (warned,) = events(pg_dsn, booking, "warned")
    assert warned[2]["panel"] == f"sent to {PANEL}: command {command.command_id}"
