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
import urllib.parse
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


class RunningDemo:
    """``smartcomplex demo`` started as a newcomer would, its output drained, stopped with SIGINT (Ctrl-C)."""

    def __init__(self, data_dir: Path, api_port: int) -> None:
        self.api = f"http://127.0.0.1:{api_port}"
        self.started = time.monotonic()
        command = [
            str(Path(sys.executable).with_name("smartcomplex")),
            "demo",
            "--data-dir",
            str(data_dir),
            "--api-port",
            str(api_port),
            "--speed",
            "120",
            "--start",
            START,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.output: list[str] = []
        self._drain: threading.Thread | None = None

    def wait_for_banner(self) -> int:
        """The banner's MQTT broker port; then keeps draining the output so the demo never blocks on the pipe."""
        banner = read_banner(self.process, self.started + 60)
        stdout = self.process.stdout
        assert stdout is not None
        self._drain = threading.Thread(target=lambda: self.output.extend(iter(stdout.readline, "")), daemon=True)
        self._drain.start()
        return int(re.sub(r".*:(\d+)$", r"\1", banner["MQTT broker"]))

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        finally:
            if self._drain is not None:
                self._drain.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()


def test_demo_serves_occupancy_that_follows_the_simulator_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    belt = load_belt()
    space_id, vendor_topic = sensed_space_open_now(belt)
    demo = RunningDemo(tmp_path / "demo", free_port())
    tree: set[int] = set()
    try:
        port = demo.wait_for_banner()
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

        url = f"{demo.api}/api/v1/sites/complex/spaces/{space_id}/occupancy"
        matched: set[int] = set()
        while time.monotonic() < demo.started + 60 and len(matched) < 2:
            body = get_json(url)
            if body["observed_at"] is not None and body["people"] is not None:
                observed_at = datetime.fromisoformat(str(body["observed_at"]))
                with lock:
                    if int(str(body["people"])) in published.get(observed_at, set()):
                        matched.add(int(str(body["people"])))
            time.sleep(0.3)
        watcher.stop()
        assert len(matched) >= 2, f"the API did not follow the simulator within 60 s: matched {matched}"

        tree = descendants(demo.process.pid)
        assert tree, "the demo started no processes"
    finally:
        code = demo.interrupt()
    assert code == 0, "".join(demo.output[-40:])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_running(pid) for pid in tree):
        time.sleep(0.2)
    assert not [pid for pid in tree if is_running(pid)], "processes of the demo were left running"


def test_a_second_demo_run_reuses_the_data_of_the_first(tmp_path: Path) -> None:
    first_started = datetime.now(UTC)
    first = RunningDemo(tmp_path / "demo", free_port())
    try:
        first.wait_for_banner()
        wait_for_stored_readings(first.api, since=first_started, at_least=20)
    finally:
        assert first.interrupt() == 0, "".join(first.output[-40:])
    second_started = datetime.now(UTC)

    second = RunningDemo(tmp_path / "demo", free_port())
    try:
        second.wait_for_banner()
        history = get_history(second.api, first_started - timedelta(minutes=1), second_started)
    finally:
        assert second.interrupt() == 0, "".join(second.output[-40:])
    assert sum(int(str(point["readings"])) for point in history) >= 20


def get_history(api: str, start: datetime, end: datetime) -> list[dict[str, object]]:
    query = urllib.parse.urlencode({"from": start.isoformat(), "to": end.isoformat(), "bucket_s": 60})
    with urllib.request.urlopen(
        f"{api}/api/v1/sites/complex/spaces/windows-waiting/occupancy/history?{query}", timeout=5
    ) as response:
        points: list[dict[str, object]] = json.loads(response.read())
        return points


def wait_for_stored_readings(api: str, *, since: datetime, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        points = get_history(api, since - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
        if sum(int(str(point["readings"])) for point in points) >= at_least:
            return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {at_least} readings stored within 60 s")
