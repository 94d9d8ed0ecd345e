"""One site end to end: simulated devices → edge agent → broker → server ingest → database, and commands back.

Every part is real: pymodbus servers for the door controller, people counter and LED board, MQTT simulators for
the ticket dispenser and display board, a private Mosquitto, the server app (ingest + command link) on a fresh
PostgreSQL database, and the edge agent configured from a site file that points at the simulators.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.broker import BrokerAddress
from devices.registers import WordOrder
from devices.site import Belt, load_belt
from edge.agent import EdgeAgent
from edge.outbox import Outbox
from server.app import create_app
from server.db.migrate import apply_migrations
from server.demo.mosquitto import PrivateMosquitto
from server.domain.accounts import Role
from server.settings import ServerSettings
from simulators.modbus_device import Fault
from simulators.modbus_models import DoorControllerSimulator, LedBoardSimulator, PeopleCounterSimulator
from simulators.queue_devices import DisplayBoardSimulator, QueueDeviceFleet, TicketDispenserSimulator
from tests.integration.account_fixtures import bearer, make_account
from tests.waiting import wait_until

SITE_FILE = """\
schema: smartcomplex.site/v1
name: End-to-end belt
timezone: Asia/Shanghai
sites:
  - id: hub
    name: Hub
    address: No. 1 Test Road
    floors: [{{id: 1f, name: Ground floor, level: 1}}]
    spaces:
      - {{id: hall, name: Hall, floor: 1f, kind: service-hall, capacity: 50, bookable: false,
         hours: {{mon-sun: "00:00-24:00"}}}}
      - {{id: room, name: Room, floor: 1f, kind: meeting-room, capacity: 12, bookable: true,
         hours: {{mon-sun: "00:00-24:00"}}}}
    services:
      - {{id: affairs, name: Affairs, prefix: A}}
    windows:
      - {{id: window-1, name: Window 1, space: hall, services: [affairs]}}
    devices:
      - {{id: door, model: modbus-door-controller, space: room, transport: modbus, host: 127.0.0.1,
         port: {door}, unit: 1, report_interval_s: 1}}
      - {{id: counter, model: modbus-people-counter, space: hall, transport: modbus, host: 127.0.0.1,
         port: {counter}, unit: 1, report_interval_s: 1, word_order: little}}
      - {{id: led, model: ditel-led-board, space: hall, transport: modbus, host: 127.0.0.1, port: {led},
         unit: 1, report_interval_s: 1}}
      - {{id: dispenser, model: mqtt-ticket-dispenser, space: hall, transport: mqtt, serial: TD{tag},
         vendor_topic: queue/dispenser/TD{tag}, report_interval_s: 5, services: [affairs]}}
      - {{id: board, model: mqtt-display-board, space: hall, transport: mqtt, serial: DB{tag},
         vendor_topic: queue/display/DB{tag}, report_interval_s: 5}}
"""


@dataclass
class Site:
    belt: Belt
    door: DoorControllerSimulator
    counter: PeopleCounterSimulator
    led: LedBoardSimulator
    dispenser: TicketDispenserSimulator
    board: DisplayBoardSimulator
    api: TestClient
    dsn: str


@pytest.fixture
def site(tmp_path: Path, pg_dsn: str) -> Iterator[Site]:
    apply_migrations(pg_dsn)

    with (
        PrivateMosquitto(tmp_path / "mosquitto") as mosquitto,
        DoorControllerSimulator() as door,
        PeopleCounterSimulator(seed=3, word_order=WordOrder.LITTLE, start_count=2**32 - 2, live_uptime=True) as counter,
        LedBoardSimulator() as led,
    ):
        broker = BrokerAddress("127.0.0.1", mosquitto.port)
        text = SITE_FILE.format(door=door.port, counter=counter.port, led=led.port, tag=uuid.uuid4().hex[:8])
        (tmp_path / "site.yaml").write_text(text, encoding="utf-8")
        belt = load_belt(tmp_path / "site.yaml")
        hub = belt.site("hub")
        dispenser = TicketDispenserSimulator(hub.device("dispenser"), broker, seed=1)
        board = DisplayBoardSimulator(hub.device("board"), broker, seed=1)
        outbox = Outbox(tmp_path / "outbox.sqlite3", site_id="hub")
        agent = EdgeAgent(
            site=hub, tz=belt.tz, site_broker=broker, central_broker=broker, outbox=outbox, state_dir=tmp_path
        )
        settings = ServerSettings(
            database_url=pg_dsn, mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}", ingest_client_id="e2e-ingest"
        )
        app = create_app(settings, belt=belt)
        _staff, token = make_account(pg_dsn, "duty-officer", Role.STAFF)
        with TestClient(app, headers=bearer(token)) as api:
            assert app.state.ingest.wait_connected(10)
            agent.start()
            fleet = QueueDeviceFleet([dispenser, board])  # ticks their heartbeats
            fleet.start()
            try:
                assert agent.wait_connected(10)
                assert fleet.wait_connected(10)
                # The first poll of each Modbus device is its baseline: what happens before it is not an event.
                wait_until(
                    lambda: all(agent.health.status_of(d) is not None for d in ("door", "counter", "led")),
                    timeout=10,
                    what="the first polls",
                )
                yield Site(belt, door, counter, led, dispenser, board, api, pg_dsn)
            finally:
                fleet.stop()
                agent.stop()
                outbox.close()


def _rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as connection:
        return connection.execute(sql).fetchall()


def test_badge_reads_crossings_and_button_presses_reach_the_database(site: Site) -> None:
    site.door.badge(4_001_234)
    site.counter.cross("channel_1_in", 5)  # the counters wrap past 2**32 here
    site.counter.cross("channel_1_out", 2)
    site.dispenser.press("affairs")
    wait_until(
        lambda: _rows(site.dsn, "SELECT data->>'card' FROM device_event WHERE kind = 'access'") == [("4001234",)],
        timeout=15,
        what="the badge read stored",
    )
    wait_until(
        lambda: (
            _rows(site.dsn, "SELECT people FROM occupancy_reading WHERE device_id = 'counter' ORDER BY seq DESC")[:1]
            == [(3,)]
        ),
        timeout=15,
        what="the counter's occupancy (5 in, 2 out) stored",
    )
    wait_until(
        lambda: (
            _rows(site.dsn, "SELECT data->>'service' FROM device_event WHERE kind = 'ticket_request'") == [("affairs",)]
        ),
        timeout=15,
        what="the ticket request stored",
    )
    people = [int(str(row[0])) for row in _rows(site.dsn, "SELECT people FROM occupancy_reading")]
    assert people
    assert min(people) >= 0


def test_every_device_reports_its_health_to_the_server(site: Site) -> None:
    def states() -> dict[str, str]:
        body = site.api.get("/api/v1/sites/hub/devices").json()
        return {device["id"]: device["health"]["state"] for device in body["devices"]}

    wait_until(
        lambda: all(state == "online" for state in states().values()),
        timeout=20,
        what="every device online",
    )
    site.led.device.set_fault(Fault.OFFLINE)
    wait_until(lambda: states()["led"] == "offline", timeout=30, what="the dead LED board reported offline")


def test_commands_from_the_api_are_carried_out_by_the_devices_and_answered(site: Site) -> None:
    unlock = site.api.post("/api/v1/sites/hub/devices/door/commands/unlock", json={"args": {"seconds": 2}, "wait_s": 8})
    assert unlock.status_code == 200, unlock.text
    assert unlock.json()["status"] == "done"
    assert site.door.strike_released
    wait_until(lambda: not site.door.strike_released, timeout=10, what="the strike released after 2 s")

    shown = site.api.post(
        "/api/v1/sites/hub/devices/led/commands/display", json={"args": {"text": "A017 -> 1"}, "wait_s": 8}
    )
    assert shown.json()["status"] == "done", shown.text
    assert site.led.text.rstrip() == "A017 -> 1"

    printed = site.api.post(
        "/api/v1/sites/hub/devices/dispenser/commands/print",
        json={
            "args": {"ticket": "A001", "service": "affairs", "issued_at": "2026-11-28T02:00:00Z", "waiting_ahead": 0},
            "wait_s": 8,
        },
    )
    assert printed.json()["status"] == "done", printed.text
    assert [request.ticket for request in site.dispenser.printed] == ["A001"]

    on_board = site.api.post(
        "/api/v1/sites/hub/devices/board/commands/display", json={"args": {"text": "A001 -> Window 1"}, "wait_s": 8}
    )
    assert on_board.json()["status"] == "done", on_board.text
    assert site.board.text == "A001 -> Window 1"
