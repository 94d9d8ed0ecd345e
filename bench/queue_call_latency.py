"""Call-to-display latency: from a window terminal's call_next key to the call showing on the hall's MQTT board and
on the web display's server-sent events, without and with background telemetry.

Everything is real and local: a private Mosquitto and a private PostgreSQL in a temporary directory (removed
afterwards), the server (uvicorn in this process: ingest, commands, API, SSE), the site's
edge agent (which owns the queue), and simulated devices (dispenser, two window terminals, a display board). For
each call the bench records when the terminal published the key, when the board's retained picture naming the
ticket reached a subscriber of the board's /set topic, and when an SSE ``board`` event naming it reached a client
of ``/api/v1/sites/hall/queue/stream``.

Two phases of N calls each: ``quiet`` (nothing else going on; the baseline) and ``loaded`` (an occupancy sensor of
the site sends R envelopes a second straight to the centre's ingest, as a busy belt's telemetry would). Prints
median and p99 per path and phase and the loaded/quiet ratio of the medians.

    uv run python bench/queue_call_latency.py [--calls 100] [--load 500] [--gap 0.15]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion

from devices.broker import BrokerAddress
from devices.envelope import Envelope, encode_envelope
from devices.site import load_belt
from edge.agent import EdgeAgent
from edge.outbox import Outbox
from server.app import create_app
from server.db.migrate import apply_migrations
from server.demo import PrivateMosquitto, PrivatePostgres
from server.demo.services import free_port
from server.settings import ServerSettings
from simulators.queue_devices import (
    DisplayBoardSimulator,
    QueueDeviceFleet,
    TicketDispenserSimulator,
    WindowTerminalSimulator,
)
from tests.integration.queue_site import QUEUE_SITE_FILE

SENSOR = """      - {{id: sensor, model: milesight-vs121, space: waiting, transport: mqtt, serial: VS{tag},
         vendor_topic: sensors/VS{tag}, report_interval_s: 60}}
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Arrivals:
    """When each ticket number was first seen on a path (monotonic seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: dict[str, float] = {}
        self.watch: set[str] = set()

    def look_for(self, number: str) -> None:
        with self._lock:
            self.watch.add(number)

    def saw(self, text: str) -> None:
        now = time.monotonic()
        with self._lock:
            for number in [n for n in self.watch if n in text]:
                self.seen[number] = now
                self.watch.discard(number)


def watch_board(broker: BrokerAddress, topic: str, arrivals: Arrivals) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-board-{uuid.uuid4().hex[:6]}")

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.payload:
            arrivals.saw(json.loads(message.payload).get("text", ""))

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    return client


def watch_stream(url: str, arrivals: Arrivals, stop: threading.Event) -> threading.Thread:
    def follow() -> None:
        with httpx.Client(timeout=None) as client, client.stream("GET", url) as response:
            event = ""
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "board":
                    data = json.loads(line.split(":", 1)[1])
                    arrivals.saw(json.dumps(data.get("serving") or data.get("windows") or data))

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    return thread


class Telemetry:
    """An occupancy sensor of the site sending ``rate`` envelopes a second straight to the centre's ingest."""

    def __init__(self, broker: BrokerAddress, rate: float) -> None:
        self.rate = rate
        self.sent = 0
        self._stop = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-load-{uuid.uuid4().hex[:6]}")
        self._client.max_inflight_messages_set(1000)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.loop_stop()
        self._client.disconnect()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while self.sent < due:
                data = {"people": self.sent % 30, "occupied": self.sent % 30 > 0, "regions": [], "trigger": "interval"}
                envelope = Envelope("occupancy.v1", "sensor", datetime.now(UTC), 10_000_000 + self.sent, data)
                self._client.publish("sc/v1/hall/sensor/event/occupancy", encode_envelope(envelope), qos=1)
                self.sent += 1
            time.sleep(0.005)


def measure(
    phase: str,
    calls: int,
    gap_s: float,
    dispenser: TicketDispenserSimulator,
    terminal: WindowTerminalSimulator,
    board: Arrivals,
    web: Arrivals,
    first_number: int,
) -> dict[str, list[float]]:
    for _ in range(calls):
        dispenser.press("affairs")
    time.sleep(1.0)  # the tickets are issued before the first call
    sent: dict[str, float] = {}
    for index in range(calls):
        number = f"A{first_number + index:03d}"
        board.look_for(number)
        web.look_for(number)
        sent[number] = time.monotonic()
        terminal.key("call_next")
        time.sleep(gap_s)
    time.sleep(2.0)
    result: dict[str, list[float]] = {}
    for path, arrivals in (("mqtt_board", board), ("web_sse", web)):
        result[path] = [(arrivals.seen[n] - t) * 1000 for n, t in sent.items() if n in arrivals.seen]
        missing = calls - len(result[path])
        if missing:
            print(f"{phase}: {path}: {missing} of {calls} calls never seen", file=sys.stderr)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--load", type=float, default=500.0, help="telemetry envelopes a second in the loaded phase")
    parser.add_argument("--gap", type=float, default=0.15, help="seconds between calls")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="sc-bench-queue-") as workdir:
        return run(options, Path(workdir))


def run(options: argparse.Namespace, work: Path) -> int:
    tag = uuid.uuid4().hex[:8]
    site_text = QUEUE_SITE_FILE.format(tag=tag, more=SENSOR.format(tag=tag))
    (work / "site.yaml").write_text(site_text, encoding="utf-8")
    belt = load_belt(work / "site.yaml")
    hall = belt.site("hall")
    with PrivatePostgres(work / "postgres") as postgres, PrivateMosquitto(work / "mosquitto") as mosquitto:
        postgres.ensure_database("smartcomplex")
        dsn = postgres.conninfo("smartcomplex")
        apply_migrations(dsn)
        broker = BrokerAddress("127.0.0.1", mosquitto.port)
        port = free_port()
        settings = ServerSettings(
            database_url=dsn, mqtt_url=broker_url(broker), ingest_client_id="bench-ingest", scheduler_enabled=False
        )
        server = uvicorn.Server(uvicorn.Config(create_app(settings, belt=belt), port=port, log_level="warning"))
        server_thread = threading.Thread(target=server.run, daemon=True)
        server_thread.start()
        outbox = Outbox(work / "outbox.sqlite3", site_id="hall")
        agent = EdgeAgent(site=hall, tz=belt.tz, site_broker=broker, central_broker=broker, outbox=outbox)
        dispenser = TicketDispenserSimulator(hall.device("dispenser"), broker, seed=1)
        terminal = WindowTerminalSimulator(hall.device("terminal-1"), broker, seed=1)
        board_device = DisplayBoardSimulator(hall.device("board"), broker, seed=1)
        fleet = QueueDeviceFleet([dispenser, terminal, board_device])
        board, web, stop = Arrivals(), Arrivals(), threading.Event()
        while not server.started:
            time.sleep(0.05)
        agent.start()
        fleet.start()
        agent.wait_connected(10)
        fleet.wait_connected(10)
        watcher = watch_board(broker, f"{hall.device('board').vendor_topic}/set", board)
        watch_stream(f"http://127.0.0.1:{port}/api/v1/sites/hall/queue/stream", web, stop)
        terminal.key("open")
        time.sleep(1.0)
        results = {"quiet": measure("quiet", options.calls, options.gap, dispenser, terminal, board, web, 1)}
        load = Telemetry(broker, options.load)
        load.start()
        time.sleep(1.0)
        results["loaded"] = measure(
            "loaded", options.calls, options.gap, dispenser, terminal, board, web, options.calls + 1
        )
        load.stop()
        stop.set()
        watcher.loop_stop()
        fleet.stop()
        agent.stop()
        outbox.close()
        server.should_exit = True
        server_thread.join(10)
    print(
        f"queue call-to-display latency: {options.calls} calls a phase, {options.gap:g} s apart;"
        f" loaded = {options.load:g} telemetry envelopes/s ({load.sent} sent)"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for path in ("mqtt_board", "web_sse"):
        quiet = results["quiet"][path]
        loaded = results["loaded"][path]
        if not quiet or not loaded:
            print(f"{path}: no measurement")
            return 1
        ratio = statistics.median(loaded) / statistics.median(quiet)
        print(
            f"{path:10s} quiet median {statistics.median(quiet):7.1f} ms  p99 {percentile(quiet, 0.99):7.1f} ms | "
            f"loaded median {statistics.median(loaded):7.1f} ms  p99 {percentile(loaded, 0.99):7.1f} ms | "
            f"loaded/quiet median {ratio:.2f}"
        )
    return 0


def broker_url(broker: BrokerAddress) -> str:
    return f"mqtt://{broker.host}:{broker.port}"


if __name__ == "__main__":
    sys.exit(main())
