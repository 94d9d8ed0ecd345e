"""``smartcomplex demo`` as a newcomer runs it: from a clean data directory to live occupancy, then Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.broker import BrokerAddress
from devices.mqtt_link import InboundMessage, MqttLink
from devices.site import Belt, load_belt
from devices.vendors.milesight_vs121 import parse_vs121_report
from server.demo.services import free_port, is_running

pytestmark = pytest.mark.system

START = "10:00"  # local time of the simulated day: most spaces are open and filling up


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc), whatever session it started."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def sensed_space_open_now(belt: Belt) -> tuple[str, str]:
    """A (space id, vendor topic) of the Complex whose space is open at START local time today."""
    site = belt.site("complex")
    local = datetime.now(UTC).astimezone(belt.tz)
    hour, minute = (int(part) for part in START.split(":"))
    at = local.replace(hour=hour, minute=minute, second=0, microsecond=0) + timedelta(minutes=30)
    for device in site.devices:
        if device.vendor_topic and site.space(device.space).hours.is_open(at, belt.tz):
            return device.space, device.vendor_topic
    raise AssertionError("no sensed space of the Complex is open at 10:30 today")


def read_banner(process: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    lines: dict[str, str] = {}
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if ":" in line and line.startswith("  "):
            key, _, value = line.strip().partition(":")
            lines[key] = value.strip()
        if "logs:" in line:
            return lines
    raise AssertionError(f"the demo printed no banner in time (exit code {process.poll()})")


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


def test_demo_serves_occupancy_that_follows_the_simulator_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    belt = load_belt()
    space_id, vendor_topic = sensed_space_open_now(belt)
    api_port = free_port()
    command = [
        str(Path(sys.executable).with_name("smartcomplex")),
        "demo",
        "--data-dir",
        str(tmp_path / "demo"),
        "--api-port",
        str(api_port),
        "--speed",
        "120",
        "--start",
        START,
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    tree: set[int] = set()
    drain: threading.Thread | None = None
    try:
        banner = read_banner(process, started + 60)
        port = int(re.sub(r".*:(\d+)$", r"\1", banner["MQTT broker"]))
        # Keep draining the demo's output so it never blocks on a full pipe.
        drain = threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
        drain.start()

        published: dict[datetime, set[int]] = {}
        lock = threading.Lock()

        def remember(message: InboundMessage) -> None:
            report = parse_vs121_report(message.payload)
            with lock:
                published.setdefault(report.observed_at, set()).add(report.current_total)

        watcher = MqttLink(BrokerAddress("127.0.0.1", port), client_id="test-demo-watcher", on_message=remember)
        watcher.subscribe(vendor_topic)
        watcher.start()
        assert watcher.wait_connected(10)

        url = f"http://127.0.0.1:{api_port}/api/v1/sites/complex/spaces/{space_id}/occupancy"
        matched: set[int] = set()
        while time.monotonic() < started + 60 and len(matched) < 2:
            body = get_json(url)
            if body["observed_at"] is not None and body["people"] is not None:
                observed_at = datetime.fromisoformat(str(body["observed_at"]))
                with lock:
                    if int(str(body["people"])) in published.get(observed_at, set()):
                        matched.add(int(str(body["people"])))
            time.sleep(0.3)
        watcher.stop()
        assert len(matched) >= 2, f"the API did not follow the simulator within 60 s: matched {matched}"

        tree = descendants(process.pid)
        assert tree, "the demo started no processes"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            if drain is not None:
                drain.join(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
    assert code == 0, "".join(output[-40:])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_running(pid) for pid in tree):
        time.sleep(0.2)
    assert not [pid for pid in tree if is_running(pid)], "processes of the demo were left running"
