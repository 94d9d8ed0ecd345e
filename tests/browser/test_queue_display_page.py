"""The residents' pages in a real browser (Debian's headless Chromium) against the real server process, a private
Mosquitto and PostgreSQL, with the site's queue events sent as its edge agent sends them: a call shows on the hall's
board within 2 s, the board marks itself "not live" while the server is down and is current again when it is back,
and a phone follows its ticket from its place in line to "called"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devices.broker import BrokerAddress
from devices.mqtt_link import MqttLink
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto, free_port
from tests.browser.display_helpers import ScriptedAgent, ServerProcess, chromium_page, server_env

SITE = "complex"


@dataclass
class World:
    server: ServerProcess
    link: MqttLink
    agent: ScriptedAgent

    def send(self, *events: object) -> None:
        for data in events:
            self.agent.send(self.link, data)  # type: ignore[arg-type]


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str) -> Iterator[World]:
    apply_migrations(pg_dsn)
    with PrivateMosquitto(tmp_path / "mosquitto") as mosquitto:
        env = server_env(database_url=pg_dsn, mqtt_url=mosquitto.url, tag=tmp_path.name[-12:])
        server = ServerProcess(port=free_port(), env=env, log_path=tmp_path / "server.log")
        server.start()
        link = MqttLink(BrokerAddress("127.0.0.1", mosquitto.port), client_id="test-site-agent")
        link.start()
        assert link.wait_connected(10)
        agent = ScriptedAgent(
            site_id=SITE, prefixes={"party-mass": "B", "culture": "C"}, windows={"window-2": ["party-mass", "culture"]}
        )
        agent.report_online(link)
        try:
            yield World(server, link, agent)
        finally:
            link.stop()
            server.kill()


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page() as opened:
        yield opened


def test_a_call_shows_within_two_seconds_and_the_board_says_when_it_is_not_live(world: World, page: Page) -> None:
    agent = world.agent
    world.send(agent.open_window("window-2"), agent.issue("party-mass"), agent.issue("party-mass"))
    page.goto(f"{world.server.base_url}/display/{SITE}")
    expect(page.get_by_test_id("board-state")).to_have_attribute("data-seq", "3", timeout=10_000)
    expect(page.get_by_test_id("waiting-party-mass")).to_have_text("2")
    expect(page.get_by_test_id("stale-mark")).to_be_hidden()
    expect(page.get_by_test_id("site-offline")).to_be_hidden()

    world.send(agent.call_next("window-2"))
    expect(page.get_by_test_id("latest-call")).to_contain_text("B001", timeout=2_000)
    expect(page.get_by_test_id("latest-call")).to_contain_text("Window 2")
    expect(page.get_by_test_id("serving-window-2")).to_have_text("B001")
    expect(page.get_by_test_id("waiting-party-mass")).to_have_text("1")

    world.server.kill()
    expect(page.get_by_test_id("stale-mark")).to_be_visible(timeout=8_000)
    expect(page.get_by_test_id("stale-mark")).to_contain_text("Not live — last update")
    # The hall goes on while the centre is down; the broker keeps the agent's events for the server's session.
    world.send(agent.done("window-2"), agent.call_next("window-2"))

    world.server.start()
    expect(page.get_by_test_id("stale-mark")).to_be_hidden(timeout=15_000)
    expect(page.get_by_test_id("latest-call")).to_contain_text("B002", timeout=5_000)
    expect(page.get_by_test_id("serving-window-2")).to_have_text("B002")
    expect(page.get_by_test_id("waiting-party-mass")).to_have_text("0")


def test_a_phone_follows_its_ticket_from_its_place_in_line_to_called(world: World, page: Page) -> None:
    agent = world.agent
    world.send(agent.open_window("window-2"), agent.issue("party-mass"), agent.issue("party-mass"))
    page.goto(f"{world.server.base_url}/display/{SITE}/ticket/{agent.day}/B002")
    expect(page.get_by_test_id("ticket-number")).to_have_text("B002")
    expect(page.get_by_test_id("ticket-position")).to_have_text("2", timeout=10_000)
    expect(page.get_by_test_id("ticket-estimate")).to_have_text("3-8 min")  # 1 ahead: 3-8 min at the board's rate
    expect(page.get_by_test_id("ticket-service")).to_have_text("Party-mass services")
    expect(page.get_by_test_id("called-banner")).to_be_hidden()

    world.send(agent.call_next("window-2"))
    expect(page.get_by_test_id("ticket-position")).to_have_text("1", timeout=2_000)

    world.send(agent.done("window-2"), agent.call_next("window-2"))
    expect(page.get_by_test_id("called-banner")).to_be_visible(timeout=2_000)
    expect(page.get_by_test_id("called-banner")).to_contain_text("Your number B002 is called at Window 2")
    expect(page.get_by_test_id("ticket-status")).to_contain_text("Called")
    expect(page.get_by_test_id("ticket-position")).to_have_text("\u2013")  # an en dash: no place in line

    agent.report_online(world.link, "lost")  # the agent's last will: the site stops reporting
    expect(page.get_by_test_id("site-offline")).to_be_visible(timeout=5_000)
