"""The public queue display API on a real uvicorn server and PostgreSQL: the board and ticket JSON, and the SSE
stream (board at once, each change woken by the ingest's NOTIFY, heartbeats), which ends when the server stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from devices.queue_contract import QueueEventData
from devices.site import load_belt
from devices.topics import AGENT_DEVICE_ID
from server.app import create_app
from server.db.device_health import StatusUpdate, record_statuses
from server.db.migrate import apply_migrations
from server.db.queue_writes import QueueEventRecord, write_queue_events
from server.demo import free_port
from server.settings import ServerSettings
from tests.browser.display_helpers import ScriptedAgent
from tests.waiting import wait_until

SITE = "complex"


@dataclass
class Site:
    """The complex's agent, writing its events as the ingest does (one transaction each, NOTIFY on commit)."""

    dsn: str
    agent: ScriptedAgent = field(
        default_factory=lambda: ScriptedAgent(
            site_id=SITE, prefixes={"party-mass": "B", "culture": "C"}, windows={"window-2": ["party-mass", "culture"]}
        )
    )

    def store(self, data: QueueEventData) -> None:
        self.agent.seq += 1
        now = datetime.now(UTC)
        record = QueueEventRecord(site_id=SITE, seq=self.agent.seq, ts=now, received_at=now, data=data)
        with psycopg.connect(self.dsn) as conn:
            write_queue_events(conn, events=[record])

    def agent_status(self, state: str) -> None:
        now = datetime.now(UTC)
        update = StatusUpdate(SITE, AGENT_DEVICE_ID, state, now, None, "", None, now)  # type: ignore[arg-type]
        with psycopg.connect(self.dsn) as conn:
            record_statuses(conn, updates=[update])


@pytest.fixture
def site(pg_dsn: str) -> Site:
    apply_migrations(pg_dsn)
    return Site(pg_dsn)


@pytest.fixture
def base_url(site: Site) -> Iterator[str]:
    """The app on a real uvicorn in a thread (the TestClient buffers streams); no ingest, commands or scheduler."""
    settings = ServerSettings(
        database_url=site.dsn, ingest_enabled=False, commands_enabled=False, scheduler_enabled=False
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, belt=load_belt()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=15, what="uvicorn started")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive()


def sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream, as an EventSource reads them."""
    name, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def next_of(events: Iterator[tuple[str, str]], kind: str, *, within: float) -> tuple[dict[str, Any], float]:
    """The next event of ``kind`` (others skipped) and how long it took; fails after ``within`` seconds."""
    import json

    started = time.monotonic()
    for name, data in events:
        if name == kind:
            return json.loads(data), time.monotonic() - started
        assert time.monotonic() - started < within, f"no {kind} event within {within} s"
    raise AssertionError("the stream ended")


def test_the_board_json_shows_serving_windows_calls_waits_and_whether_the_site_reports(
    site: Site, base_url: str
) -> None:
    agent = site.agent
    site.store(agent.open_window("window-2"))
    for _ in range(3):
        site.store(agent.issue("party-mass"))
    site.store(agent.call_next("window-2"))
    site.agent_status("online")

    body = httpx.get(f"{base_url}/api/v1/sites/{SITE}/queue").json()
    assert body["board_seq"] == 5
    assert body["status"] == {"reporting": True, "agent_state": "online", "text": "live"}
    window = next(w for w in body["windows"] if w["id"] == "window-2")
    assert (window["open"], window["serving"], window["service_name"]) == (True, "B001", "Party-mass services")
    assert [(c["number"], c["window_name"], c["newest"]) for c in body["recent_calls"]] == [("B001", "Window 2", True)]
    service = next(s for s in body["services"] if s["id"] == "party-mass")
    assert (service["waiting"], service["estimate"]) == (2, "5-13 min")
    crowding = {area["space_id"]: area["level"] for area in body["crowding"]}
    assert crowding == {"windows-waiting": "unknown"}  # no count from its sensor yet
    assert len(body["local_time"]) == 8

    site.agent_status("lost")
    body = httpx.get(f"{base_url}/api/v1/sites/{SITE}/queue").json()
    assert body["status"]["reporting"] is False
    assert "lost" in body["status"]["text"]
    assert httpx.get(f"{base_url}/api/v1/sites/nowhere/queue").status_code == 404


def test_a_ticket_answers_its_status_place_and_estimate_and_unknown_ones_404(site: Site, base_url: str) -> None:
    agent = site.agent
    site.store(agent.open_window("window-2"))
    for _ in range(3):
        site.store(agent.issue("party-mass"))
    url = f"{base_url}/api/v1/sites/{SITE}/tickets/{agent.day}"

    third = httpx.get(f"{url}/B003").json()
    assert (third["status"], third["ahead"], third["position"], third["estimate"]) == ("waiting", 2, 3, "5-13 min")
    site.store(agent.call_next("window-2"))
    first = httpx.get(f"{url}/B001").json()
    assert (first["status"], first["window_name"], first["position"]) == ("called", "Window 2", None)
    assert first["message"] == "Your number B001 is called at Window 2"
    assert httpx.get(f"{url}/B003").json()["position"] == 2

    assert httpx.get(f"{url}/B009").status_code == 404
    assert httpx.get(f"{base_url}/api/v1/sites/{SITE}/tickets/2026-11-26/B001").status_code == 404
    assert httpx.get(f"{url}/b001").status_code == 422
    assert httpx.get(f"{base_url}/api/v1/sites/nowhere/tickets/{agent.day}/B001").status_code == 404


def test_the_stream_sends_the_board_at_once_each_change_promptly_and_a_heartbeat_every_two_seconds(
    site: Site, base_url: str
) -> None:
    agent = site.agent
    site.store(agent.open_window("window-2"))
    with (
        httpx.Client(timeout=httpx.Timeout(10.0)) as client,
        client.stream("GET", f"{base_url}/api/v1/sites/{SITE}/queue/stream") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        name, _data = next(events)
        assert name == "board"  # first, before any heartbeat

        heartbeat, _ = next_of(events, "heartbeat", within=3)
        assert heartbeat["server_time"].endswith("Z")
        assert len(heartbeat["local_time"]) == 8

        site.store(agent.issue("party-mass"))
        board, waited = next_of(events, "board", within=3)
        assert board["board_seq"] == 2
        assert next(s for s in board["services"] if s["id"] == "party-mass")["waiting"] == 1
        assert waited < 1.5  # woken by NOTIFY, not by the 2 s poll (heartbeats between are skipped)

        site.store(agent.call_next("window-2"))
        board, _ = next_of(events, "board", within=3)
        assert board["recent_calls"][0]["number"] == "B001"

        started = time.monotonic()
        beats = 0
        while beats < 2:
            next_of(events, "heartbeat", within=3)
            beats += 1
        assert 1.5 < time.monotonic() - started < 5.0


def test_the_stream_notices_the_agent_going_offline_without_any_queue_event(site: Site, base_url: str) -> None:
    site.agent_status("online")
    with (
        httpx.Client(timeout=httpx.Timeout(10.0)) as client,
        client.stream("GET", f"{base_url}/api/v1/sites/{SITE}/queue/stream") as response,
    ):
        events = sse_events(response)
        board, _ = next_of(events, "board", within=3)
        assert board["status"]["reporting"] is True
        site.agent_status("offline")
        board, waited = next_of(events, "board", within=5)
        assert board["status"]["reporting"] is False
        assert waited < 3.5  # the 2 s poll


def test_open_streams_end_when_the_server_is_stopped_so_that_it_exits(site: Site, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SC_DATABASE_URL": site.dsn,
        "SC_INGEST_ENABLED": "false",
        "SC_COMMANDS_ENABLED": "false",
        "SC_SCHEDULER_ENABLED": "false",
    }
    log = (tmp_path / "server.log").open("wb")
    command = [sys.executable, "-m", "server.cli", "server", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/api/v1/sites", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=30, what="the server answering")
        with (
            httpx.Client(timeout=httpx.Timeout(10.0)) as client,
            client.stream("GET", f"{url}/api/v1/sites/{SITE}/queue/stream") as response,
        ):
            events = sse_events(response)
            next_of(events, "board", within=3)
            process.send_signal(signal.SIGTERM)
            # uvicorn shuts down, then raises the signal again: its default action ends the process.
            assert process.wait(timeout=10) == -signal.SIGTERM
            assert [name for name, _ in events] in ([], ["heartbeat"])  # the stream ended, cleanly
        assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
