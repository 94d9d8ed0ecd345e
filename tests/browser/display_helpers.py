"""Helpers for the display tests: a scripted site agent that sends queue.v1 envelopes, the server as a subprocess,
and a headless Chromium from Debian.

:class:`ScriptedAgent` keeps the little bookkeeping a test needs (numbers per prefix, windows, who is served) and
speaks the wire contract exactly as the edge agent does (device ``_agent``, increasing seq, the whole board after
each event); it is no second queue engine: the rules (order, estimates) are the edge's. :class:`ServerProcess` runs
``smartcomplex server`` on a fixed port so that it can be killed and started again at the same address.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import Page, sync_playwright

from devices.envelope import Envelope, encode_envelope
from devices.mqtt_link import MqttLink
from devices.queue_contract import (
    QUEUE_EVENT_NAME,
    QUEUE_SCHEMA,
    QueueEventData,
    ServiceView,
    TicketView,
    WindowView,
    queue_text,
    ticket_number,
)
from devices.topics import AGENT_DEVICE_ID, Channel, agent_status_topic, device_topic

SITE_TZ = ZoneInfo("Asia/Shanghai")  # the shipped belt's time zone: ticket days are local dates
# The estimate every scripted service publishes while a window serves it: 1-3 min plus 2-5 min per ticket ahead.
RATES = {"wait_lo_base_s": 60.0, "wait_hi_base_s": 180.0, "wait_lo_per_ahead_s": 120.0, "wait_hi_per_ahead_s": 300.0}


@dataclass
class ScriptedAgent:
    """Queue events of one site as its edge agent would send them. ``windows`` maps window ids to their services,
    ``prefixes`` service ids to ticket prefixes."""

    site_id: str
    prefixes: dict[str, str]
    windows: dict[str, list[str]]
    day: str = ""  # the site's local date of ``now`` unless given
    seq: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    tickets: dict[str, TicketView] = field(default_factory=dict)
    open_windows: set[str] = field(default_factory=set)
    serving: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    root: str = "sc"

    def __post_init__(self) -> None:
        if not self.day:
            self.day = self.now.astimezone(SITE_TZ).date().isoformat()

    def _tick(self) -> str:
        self.now += timedelta(seconds=1)
        return queue_text(self.now)

    def _board(self) -> tuple[list[WindowView], list[ServiceView]]:
        windows = [
            WindowView(id=window, open=window in self.open_windows, services=services, serving=self.serving.get(window))
            for window, services in self.windows.items()
        ]
        services = []
        for service, prefix in self.prefixes.items():
            handled = sum(1 for w in self.open_windows if service in self.windows[w])
            waiting = sum(1 for t in self.tickets.values() if t.service == service and t.status == "waiting")
            services.append(
                ServiceView.model_validate(
                    {"id": service, "prefix": prefix, "waiting": waiting, "open_windows": handled}
                    | (RATES if handled else {})
                )
            )
        return windows, services

    def _event(self, kind: str, *, ticket: TicketView | None = None, window: str | None = None) -> QueueEventData:
        windows, services = self._board()
        return QueueEventData.model_validate(
            {
                "kind": kind,
                "at": queue_text(self.now),
                "ticket": None if ticket is None else ticket.model_dump(),
                "window": window,
                "windows": [w.model_dump() for w in windows],
                "services": [s.model_dump() for s in services],
            }
        )

    def open_window(self, window: str) -> QueueEventData:
        self._tick()
        self.open_windows.add(window)
        return self._event("window_opened", window=window)

    def issue(self, service: str) -> QueueEventData:
        at = self._tick()
        prefix = self.prefixes[service]
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        ahead = sum(1 for t in self.tickets.values() if t.service == service and t.status == "waiting")
        ticket = TicketView.model_validate(
            {
                "number": ticket_number(prefix, self.counters[prefix]),
                "day": self.day,
                "service": service,
                "source": "dispenser",
                "status": "waiting",
                "issued_at": at,
                "order_at": at,
                "waiting_ahead": ahead,
                "shown_wait_lo_s": None,
                "shown_wait_hi_s": None,
            }
        )
        self.tickets[ticket.number] = ticket
        return self._event("issued", ticket=ticket)

    def call_next(self, window: str) -> QueueEventData:
        at = self._tick()
        waiting = sorted(
            (t for t in self.tickets.values() if t.status == "waiting" and t.service in self.windows[window]),
            key=lambda t: (t.order_at, t.number),
        )
        called = waiting[0].model_copy(update={"status": "called", "window": window, "called_at": at})
        self.tickets[called.number] = called
        self.serving[window] = called.number
        return self._event("called", ticket=called, window=window)

    def done(self, window: str) -> QueueEventData:
        at = self._tick()
        number = self.serving.pop(window)
        finished = self.tickets[number].model_copy(update={"status": "done", "finished_at": at})
        self.tickets[number] = finished
        return self._event("done", ticket=finished, window=window)

    def envelope(self, data: QueueEventData, *, seq: int | None = None) -> bytes:
        """The envelope of ``data`` with the next seq (or the one given, to replay an old one)."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        envelope = Envelope(QUEUE_SCHEMA, AGENT_DEVICE_ID, datetime.now(UTC), seq, data.model_dump(mode="json"))
        return encode_envelope(envelope)

    @property
    def topic(self) -> str:
        return device_topic(self.site_id, AGENT_DEVICE_ID, Channel.EVENT, QUEUE_EVENT_NAME, root=self.root)

    def send(self, link: MqttLink, data: QueueEventData) -> int:
        """Publish ``data`` as the next envelope; returns its seq."""
        assert link.publish_and_wait(self.topic, self.envelope(data))
        return self.seq

    def report_online(self, link: MqttLink, state: str = "online") -> None:
        """The agent's retained status, as its MQTT link publishes it."""
        topic = agent_status_topic(self.site_id, root=self.root)
        assert link.publish_and_wait(topic, f'{{"state":"{state}"}}'.encode(), retain=True)


def chromium_path(wait_s: float = 120.0) -> str:
    """Debian's chromium (``playwright install`` cannot download here); waits a while for it to be installed."""
    deadline = time.monotonic() + wait_s
    while True:
        found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError("no chromium: install Debian's chromium package")
        time.sleep(2)


@dataclass
class ServerProcess:
    """``smartcomplex server`` as a subprocess on ``port``, with ``env`` (SC_* settings); start, kill, start again."""

    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        command = [sys.executable, "-m", "server.cli", "server", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env={**os.environ, **self.env}, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/api/v1/sites", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {timeout} s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: the server vanishes as in a crash, its streams broken mid-way."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, as a service manager stops it; returns the exit code (the streams must not hold it up)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.kill()


def server_env(*, database_url: str, mqtt_url: str, tag: str) -> dict[str, str]:
    """Settings for a test server: its own ingest session, no release scheduler (nothing here is booked)."""
    return {
        "SC_DATABASE_URL": database_url,
        "SC_MQTT_URL": mqtt_url,
        "SC_INGEST_CLIENT_ID": f"test-ingest-{tag}",
        "SC_SCHEDULER_ENABLED": "false",
    }


@contextmanager
def running_server(port: int, env: dict[str, str], log_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(port=port, env=env, log_path=log_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of a headless Chromium (Debian's), closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def json_of(url: str) -> Any:
    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    return response.json()
