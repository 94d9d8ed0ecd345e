"""A real call, end to end, on the hall's web display: staff press call_next on a window terminal (simulated device),
the site's edge agent calls the ticket, the server learns it through the broker and pushes it to the page; then a
call made through the API (forwarded to the same agent) shows the same way. Headless Debian Chromium, the real
server process, a private Mosquitto, PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from devices.broker import BrokerAddress
from devices.site import Site, load_belt
from edge.agent import EdgeAgent
from edge.outbox import Outbox
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto, free_port
from server.domain.accounts import Role
from simulators.queue_devices import QueueDeviceFleet, TicketDispenserSimulator, WindowTerminalSimulator
from tests.browser.display_helpers import ServerProcess, chromium_page, server_env
from tests.integration.account_fixtures import bearer, make_account
from tests.integration.queue_site import QUEUE_SITE_FILE
from tests.waiting import wait_until


@dataclass
class Hall:
    server: ServerProcess
    site: Site
    dispenser: TicketDispenserSimulator
    terminal: WindowTerminalSimulator
    staff_token: str


@pytest.fixture
def hall(tmp_path: Path, pg_dsn: str) -> Iterator[Hall]:
    apply_migrations(pg_dsn)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(QUEUE_SITE_FILE.format(tag=uuid.uuid4().hex[:8], more=""), encoding="utf-8")
    belt = load_belt(site_file)
    site = belt.site("hall")
    _staff, token = make_account(pg_dsn, "window-officer", Role.STAFF)
    with PrivateMosquitto(tmp_path / "mosquitto") as mosquitto:
        broker = BrokerAddress("127.0.0.1", mosquitto.port)
        env = server_env(database_url=pg_dsn, mqtt_url=mosquitto.url, tag=tmp_path.name[-12:])
        server = ServerProcess(
            port=free_port(), env={**env, "SC_SITE_FILE": str(site_file)}, log_path=tmp_path / "s.log"
        )
        server.start()
        outbox = Outbox(tmp_path / "outbox.sqlite3", site_id="hall")
        agent = EdgeAgent(site=site, tz=belt.tz, site_broker=broker, central_broker=broker, outbox=outbox)
        dispenser = TicketDispenserSimulator(site.device("dispenser"), broker, seed=1)
        terminal = WindowTerminalSimulator(site.device("terminal-2"), broker, seed=1)
        fleet = QueueDeviceFleet([dispenser, terminal])
        agent.start()
        fleet.start()
        try:
            assert agent.wait_connected(10)
            assert fleet.wait_connected(10)
            yield Hall(server, site, dispenser, terminal, token)
        finally:
            fleet.stop()
            agent.stop()
            outbox.close()
            server.kill()


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page() as opened:
        yield opened


def test_calls_from_a_window_terminal_and_from_the_api_appear_on_the_display(hall: Hall, page: Page) -> None:
    hall.terminal.key("open")
    hall.dispenser.press("affairs")
    hall.dispenser.press("affairs")
    wait_until(lambda: len(hall.dispenser.printed) == 2, timeout=15, what="two tickets printed at the dispenser")
    page.goto(f"{hall.server.base_url}/display/hall")
    expect(page.get_by_test_id("waiting-affairs")).to_have_text("2", timeout=10_000)

    hall.terminal.key("call_next")
    expect(page.get_by_test_id("latest-call")).to_contain_text("A001", timeout=2_000)
    expect(page.get_by_test_id("serving-window-2")).to_have_text("A001")

    called = httpx.post(
        f"{hall.server.base_url}/api/v1/sites/hall/windows/window-2/call_next",
        json={},
        headers=bearer(hall.staff_token),
        timeout=15,
    )
    assert called.status_code == 200, called.text
    assert called.json()["events"] == ["done", "called"]
    expect(page.get_by_test_id("latest-call")).to_contain_text("A002", timeout=2_000)
    expect(page.get_by_test_id("serving-window-2")).to_have_text("A002")
    expect(page.get_by_test_id("waiting-affairs")).to_have_text("0")
