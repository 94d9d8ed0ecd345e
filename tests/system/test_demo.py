"""``smartcomplex demo`` as a newcomer runs it: from a clean data directory to live occupancy, then Ctrl-C."""

from __future__ import annotations

import json
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
from tests.system.demo_process import START, RunningDemo, descendants, get_json

pytestmark = pytest.mark.system


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
