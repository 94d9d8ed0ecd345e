"""A site with a ticket queue, end to end and all real: MQTT dispenser, two window terminals and a display board
(simulators), a Ditel LED board (pymodbus), a private Mosquitto, the edge agent (which owns the queue), and the
server (ingest, commands, API) on a fresh PostgreSQL database. The bench reuses it too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from devices.broker import BrokerAddress
from devices.site import Belt, load_belt
from edge.agent import EdgeAgent
from edge.outbox import Outbox
from server.app import create_app
from server.db.migrate import apply_migrations
from server.demo.mosquitto import PrivateMosquitto
from server.domain.accounts import Role
from server.settings import ServerSettings
from simulators.modbus_models import LedBoardSimulator
from simulators.queue_devices import (
    DisplayBoardSimulator,
    QueueDeviceFleet,
    TicketDispenserSimulator,
    WindowTerminalSimulator,
)
from tests.integration.account_fixtures import bearer, make_account
from tests.waiting import wait_until

QUEUE_SITE_FILE = """\
schema: smartcomplex.site/v1
name: Queue belt
timezone: Asia/Shanghai
sites:
  - id: hall
    name: Service hall
    address: No. 1 Test Road
    floors: [{{id: 1f, name: Ground floor, level: 1}}]
    spaces:
      - {{id: windows, name: Windows hall, floor: 1f, kind: service-hall, capacity: 60, bookable: false,
         hours: {{mon-sun: "00:00-24:00"}}}}
      - {{id: waiting, name: Waiting area, floor: 1f, kind: waiting-area, capacity: 40, bookable: false,
         hours: {{mon-sun: "00:00-24:00"}}}}
    services:
      - {{id: affairs, name: Affairs, prefix: A}}
      - {{id: culture, name: Culture, prefix: C}}
    windows:
      - {{id: window-1, name: Window 1, space: windows, services: [affairs]}}
      - {{id: window-2, name: Window 2, space: windows, services: [affairs, culture]}}
    devices:
      - {{id: dispenser, model: mqtt-ticket-dispenser, space: waiting, transport: mqtt, serial: TD{tag},
         vendor_topic: queue/dispenser/TD{tag}, report_interval_s: 5, services: [affairs, culture]}}
      - {{id: terminal-1, model: mqtt-window-terminal, space: windows, transport: mqtt, serial: WT1{tag},
         vendor_topic: queue/terminal/WT1{tag}, report_interval_s: 5, window: window-1}}
      - {{id: terminal-2, model: mqtt-window-terminal, space: windows, transport: mqtt, serial: WT2{tag},
         vendor_topic: queue/terminal/WT2{tag}, report_interval_s: 5, window: window-2}}
      - {{id: board, model: mqtt-display-board, space: waiting, transport: mqtt, serial: DB{tag},
         vendor_topic: queue/display/DB{tag}, report_interval_s: 5}}
{more}"""
LED_BOARD = """      - {{id: led, model: ditel-led-board, space: windows, transport: modbus, host: 127.0.0.1,
         port: {port}, unit: 1, report_interval_s: 1}}
"""


@dataclass
class QueueSite:
    belt: Belt
    dispenser: TicketDispenserSimulator
    terminals: dict[str, WindowTerminalSimulator]
    board: DisplayBoardSimulator
    led: LedBoardSimulator
    agent: EdgeAgent
    api: TestClient
    staff_token: str
    resident_token: str
    dsn: str
    broker: BrokerAddress
    outbox_path: Path
    state_dir: Path


def rows(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as connection:
        return connection.execute(sql, params).fetchall()  # type: ignore[arg-type]


def start_agent(site: QueueSite) -> EdgeAgent:
    outbox = Outbox(site.outbox_path, site_id="hall")
    agent = EdgeAgent(
        site=site.belt.site("hall"),
        tz=site.belt.tz,
        site_broker=site.broker,
        central_broker=site.broker,
        outbox=outbox,
        state_dir=site.state_dir,
    )
    agent.start()
    assert agent.wait_connected(10)
    return agent


def stop_agent(agent: EdgeAgent) -> None:
    agent.stop()
    agent.sink.close()  # type: ignore[attr-defined]


@contextmanager
def queue_site(tmp_path: Path, pg_dsn: str, *, settings: dict[str, Any] | None = None) -> Iterator[QueueSite]:
    apply_migrations(pg_dsn)
    with PrivateMosquitto(tmp_path / "mosquitto") as mosquitto, LedBoardSimulator() as led:
        broker = BrokerAddress("127.0.0.1", mosquitto.port)
        text = QUEUE_SITE_FILE.format(tag=uuid.uuid4().hex[:8], more=LED_BOARD.format(port=led.port))
        (tmp_path / "site.yaml").write_text(text, encoding="utf-8")
        belt = load_belt(tmp_path / "site.yaml")
        hall = belt.site("hall")
        dispenser = TicketDispenserSimulator(hall.device("dispenser"), broker, seed=1)
        terminals = {
            window: WindowTerminalSimulator(hall.device(f"terminal-{window[-1]}"), broker, seed=1)
            for window in ("window-1", "window-2")
        }
        board = DisplayBoardSimulator(hall.device("board"), broker, seed=1)
        server_settings = ServerSettings(
            database_url=pg_dsn,
            mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
            ingest_client_id=f"queue-ingest-{uuid.uuid4().hex[:6]}",
            scheduler_enabled=False,
            **(settings or {}),
        )
        app = create_app(server_settings, belt=belt)
        _staff, staff_token = make_account(pg_dsn, "window-officer", Role.STAFF)
        _resident, resident_token = make_account(pg_dsn, "resident-li", Role.RESIDENT)
        fleet = QueueDeviceFleet([dispenser, *terminals.values(), board])
        with TestClient(app) as api:
            assert app.state.ingest.wait_connected(10)
            site = QueueSite(
                belt,
                dispenser,
                terminals,
                board,
                led,
                agent=None,  # type: ignore[arg-type]  # started below
                api=api,
                staff_token=staff_token,
                resident_token=resident_token,
                dsn=pg_dsn,
                broker=broker,
                outbox_path=tmp_path / "outbox.sqlite3",
                state_dir=tmp_path,
            )
            site.agent = start_agent(site)
            fleet.start()
            try:
                assert fleet.wait_connected(10)
                wait_until(
                    lambda: rows(pg_dsn, "SELECT state FROM device_status WHERE device_id = '_agent'") == [("online",)],
                    timeout=15,
                    what="the centre sees the site's agent online",
                )
                yield site
            finally:
                fleet.stop()
                stop_agent(site.agent)


def staff(site: QueueSite) -> dict[str, str]:
    return bearer(site.staff_token)


def resident(site: QueueSite) -> dict[str, str]:
    return bearer(site.resident_token)
