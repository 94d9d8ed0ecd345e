"""A scenario played at high speed drives real devices as planned: VS121 reports on the shared Mosquitto, people
counters and door controllers read by pymodbus's own client over loopback, queue devices through their drivers,
and faults (a silent sensor, a dead Modbus device, a cut uplink) when planned.

Each test builds its own small site file with unique vendor topics and free Modbus ports, so tests running at the
same time on the shared broker never see each other's reports.
"""

from __future__ import annotations

import json
import queue
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt
import pytest
from pymodbus.client import ModbusTcpClient

from devices.broker import BrokerAddress
from devices.site import Belt, Device, Site, load_belt, parse_belt
from devices.vendors.milesight_vs121 import parse_vs121_report
from simulators.clock import ScenarioClock
from simulators.modbus_device import free_tcp_port
from simulators.netfault import TcpRelay
from simulators.occupancy_sensor import VendorReport
from simulators.scenario import (
    FaultOptions,
    ScenarioPlan,
    build_plan,
    device_actions,
    run_scenario,
    run_scenario_command,
)
from simulators.scenario.schedule import Key, Press, sensor_feeds
from simulators.scenario.timeline import people_at
from simulators.scenario.truth import truth_json_schema
from tests.waiting import wait_until

BROKER = BrokerAddress("127.0.0.1", 1883)
MONDAY = date(2026, 11, 23)
SPEED = 900.0  # simulated seconds per real second: 45 simulated minutes in 3 real seconds
JUST_BEFORE = timedelta(microseconds=1)


@dataclass
class LoopbackSite:
    belt: Belt
    root: str
    counter_port: int
    door_port: int

    @property
    def site(self) -> Site:
        return self.belt.site("t-site")

    def device(self, model: str, space: str | None = None) -> Device:
        return next(d for d in self.site.devices if d.model == model and (space is None or d.space == space))


def site_file(root: str, counter_port: int, door_port: int, host: str = "127.0.0.1") -> str:
    sensor = "{{id: {id}, model: milesight-vs121, space: {space}, transport: mqtt, serial: {serial}, "
    sensor += "vendor_topic: " + root + "/vs121/{serial}, report_interval_s: 60}}"
    return f"""
schema: smartcomplex.site/v1
name: Scenario test belt
timezone: Asia/Shanghai
sites:
  - id: t-site
    name: Test site
    address: Loopback
    floors: [{{id: 1f, name: Ground floor, level: 1}}]
    spaces:
      - {{id: lobby, name: Lobby, floor: 1f, kind: entrance, capacity: 100, bookable: false,
          hours: {{mon-sun: "08:00-21:00"}}}}
      - {{id: hall, name: Hall, floor: 1f, kind: service-hall, capacity: 40, bookable: false,
          hours: {{mon-fri: "08:30-17:00"}}}}
      - {{id: waiting, name: Waiting, floor: 1f, kind: waiting-area, capacity: 30, bookable: false,
          hours: {{mon-fri: "08:30-17:00"}}}}
      - {{id: room, name: Meeting room, floor: 1f, kind: meeting-room, capacity: 12, bookable: true,
          hours: {{mon-fri: "09:00-18:00"}}}}
    services:
      - {{id: social-security, name: Social security, prefix: A}}
      - {{id: medical-insurance, name: Medical insurance, prefix: B}}
    windows:
      - {{id: window-1, name: Window 1, space: hall, services: [social-security, medical-insurance]}}
    devices:
      - {{id: t-lobby-counter, model: modbus-people-counter, space: lobby, transport: modbus, host: {host},
          port: {counter_port}, unit: 1, report_interval_s: 10}}
      - {{id: t-room-door, model: modbus-door-controller, space: room, transport: modbus, host: {host},
          port: {door_port}, unit: 1, report_interval_s: 1}}
      - {sensor.format(id="t-room-sensor", space="room", serial="ROOM01")}
      - {sensor.format(id="t-waiting-sensor", space="waiting", serial="WAIT01")}
      - {{id: t-dispenser, model: mqtt-ticket-dispenser, space: waiting, transport: mqtt, serial: TD01,
          vendor_topic: {root}/dispenser/TD01, report_interval_s: 30, services: [social-security, medical-insurance]}}
      - {{id: t-terminal, model: mqtt-window-terminal, space: hall, transport: mqtt, serial: WT01,
          vendor_topic: {root}/terminal/WT01, report_interval_s: 30, window: window-1}}
"""


@pytest.fixture
def loop_site(tmp_path: Path) -> LoopbackSite:
    root = f"test-{uuid.uuid4().hex[:8]}/sc"
    counter_port, door_port = free_tcp_port(), free_tcp_port()
    path = tmp_path / "site.yaml"
    path.write_text(site_file(root, counter_port, door_port), encoding="utf-8")
    return LoopbackSite(load_belt(path), root, counter_port, door_port)


@pytest.fixture
def broker_inbox(loop_site: LoopbackSite) -> Iterator[queue.Queue[tuple[str, bytes]]]:
    """Every message on the test's topic root, as the shared broker delivers it."""
    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"scenario-test-{uuid.uuid4().hex[:8]}")
    client.on_message = lambda _c, _u, message: inbox.put((message.topic, bytes(message.payload)))
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect(BROKER.host, BROKER.port)
    client.loop_start()
    client.subscribe(f"{loop_site.root}/#", qos=1)
    assert subscribed.wait(10), "no SUBACK from the shared broker"
    yield inbox
    client.disconnect()
    client.loop_stop()


@dataclass
class RecordingDriver:
    """A queue device as the runner sees it: records what it was asked to do."""

    presses: list[str] = field(default_factory=list)
    keys: list[tuple[str, str | None]] = field(default_factory=list)

    def press(self, service_id: str) -> None:
        self.presses.append(service_id)

    def key(self, action: str, *, ticket: str | None = None, to_window: str | None = None) -> None:
        self.keys.append((action, ticket))


def local(day: date, hhmm: str, belt: Belt) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=belt.tz).astimezone(UTC)


def plan_for(loop_site: LoopbackSite, scenario: str = "day", faults: FaultOptions | None = None) -> ScenarioPlan:
    return build_plan(
        loop_site.belt,
        site_ids=["t-site"],
        day=MONDAY,
        seed=11,
        scenario=scenario,
        begin=local(MONDAY, "09:00", loop_site.belt),
        faults=faults,
    )


def counters(client: ModbusTcpClient) -> tuple[int, int, int, int]:
    """ch1 in, ch1 out, ch2 in, ch2 out: holding registers 40001-40008, high word first (the default map)."""
    response = client.read_holding_registers(0, count=8)
    assert not response.isError(), response
    values: tuple[int, int, int, int] = struct.unpack(">4I", struct.pack(">8H", *response.registers))
    return values


def test_a_short_run_drives_sensors_counters_doors_and_queue_devices_as_planned(
    loop_site: LoopbackSite, broker_inbox: queue.Queue[tuple[str, bytes]]
) -> None:
    plan = plan_for(loop_site)
    begin, until = plan.begin, plan.begin + timedelta(minutes=45)
    assert plan.space("t-site", "lobby").headcount, "the lobby sees people in the first 45 minutes"
    feeds = {feed.device.vendor_topic: feed for feed in sensor_feeds(plan, loop_site.belt)}
    reports: list[tuple[datetime, VendorReport]] = []
    readings: list[tuple[datetime, tuple[int, int, int, int], int]] = []
    counter = ModbusTcpClient("127.0.0.1", port=loop_site.counter_port, timeout=2, retries=1)
    door = ModbusTcpClient("127.0.0.1", port=loop_site.door_port, timeout=2, retries=1)

    def read_devices(simulated_now: datetime) -> None:
        assert counter.connect()
        assert door.connect()
        events = door.read_input_registers(2, count=1)
        assert not events.isError(), events
        readings.append((simulated_now, counters(counter), events.registers[0]))

    dispenser, terminal = RecordingDriver(), RecordingDriver()
    drivers = {"mqtt-ticket-dispenser": lambda _s, _d: dispenser, "mqtt-window-terminal": lambda _s, _d: terminal}
    try:
        report = run_scenario(
            plan,
            loop_site.belt,
            clock=ScenarioClock(start=begin, speed=SPEED),
            site_broker=BROKER,
            stop=threading.Event(),
            until=until,
            drivers=drivers,
            on_report=lambda at, r: reports.append((at, r)),
            on_tick=read_devices,
        )
    finally:
        counter.close()
        door.close()
    assert (report.began, report.ended) == (begin, until)
    assert report.actions_failed == 0
    assert report.actions_skipped == 0

    # VS121: every report carries the plan's count at the simulated instant it was made; the broker has them all.
    assert len(reports) == report.reports_published >= 2 * 2, "each sensor reports at least on start and interval"
    for at, sent in reports:
        assert sent.people == people_at(feeds[sent.topic].changes, at - JUST_BEFORE)
        assert parse_vs121_report(sent.payload).current_total == sent.people
    wait_until(lambda: broker_inbox.qsize() >= len(reports), 10, "every report to come back from the broker")
    received = sorted(broker_inbox.get_nowait() for _ in range(broker_inbox.qsize()))
    assert received == sorted((r.topic, r.payload) for _at, r in reports)
    room_counts = {r.people for _at, r in reports if feeds[r.topic].device.space == "room"}
    assert max(room_counts) > 0, "the meeting room had a booking in the first 45 minutes"

    # Modbus: at every pass, in - out is the lobby's true headcount and the door saw every organiser's badge.
    assert len(readings) > 20
    room_cards = [use.at for use in plan.card_uses if use.space == "room"]
    for at, (in_1, out_1, in_2, out_2), card_events in readings:
        assert in_1 + in_2 - out_1 - out_2 == plan.people_at("t-site", "lobby", at - JUST_BEFORE)
        assert card_events == sum(1 for used in room_cards if used < at)
    assert readings[-1][1][0] + readings[-1][1][2] > 0

    # Queue devices: every press and key planned before the end, in order, reached its driver.
    actions = [a for a in device_actions(plan, loop_site.belt) if a.at < until]
    assert dispenser.presses == [a.service for a in actions if isinstance(a, Press)]
    assert terminal.keys == [(a.action, a.ticket) for a in actions if isinstance(a, Key)]
    assert ("open", None) in terminal.keys
    assert any(action == "call_next" for action, _ticket in terminal.keys)


def test_a_dropped_out_sensor_is_silent_for_its_fault_and_reports_again_after(loop_site: LoopbackSite) -> None:
    start = local(MONDAY, "09:10", loop_site.belt)
    plan = plan_for(loop_site, "sensor-dropout", FaultOptions(start, dropout=timedelta(minutes=10)))
    (fault,) = plan.faults
    assert fault.end is not None
    silent_topic = loop_site.site.device(str(fault.device)).vendor_topic
    reports: list[tuple[datetime, str]] = []
    run_scenario(
        plan,
        loop_site.belt,
        clock=ScenarioClock(start=plan.begin, speed=SPEED),
        site_broker=BROKER,
        stop=threading.Event(),
        until=plan.begin + timedelta(minutes=30),
        on_report=lambda at, r: reports.append((at, r.topic)),
    )
    mine = [at for at, topic in reports if topic == silent_topic]
    assert any(at <= fault.start for at in mine)
    assert not [at for at in mine if fault.start < at <= fault.end]
    assert any(at > fault.end for at in mine), "the sensor reports again once the dropout ends"
    others = [at for at, topic in reports if topic != silent_topic]
    assert any(fault.start < at <= fault.end for at in others), "the other sensor kept reporting"


def test_a_dead_modbus_device_refuses_its_master_from_the_fault_on(loop_site: LoopbackSite) -> None:
    start = local(MONDAY, "09:10", loop_site.belt)
    plan = plan_for(loop_site, "dead-modbus", FaultOptions(start))
    (fault,) = plan.faults
    port = loop_site.counter_port if fault.device == "t-lobby-counter" else loop_site.door_port
    reachable: list[tuple[datetime, bool]] = []

    def probe(simulated_now: datetime) -> None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            reachable.append((simulated_now, True))
        except OSError:
            reachable.append((simulated_now, False))

    run_scenario(
        plan,
        loop_site.belt,
        clock=ScenarioClock(start=plan.begin, speed=SPEED),
        site_broker=BROKER,
        stop=threading.Event(),
        until=plan.begin + timedelta(minutes=20),
        on_tick=probe,
    )
    assert all(up for at, up in reachable if at <= fault.start)
    assert [up for at, up in reachable if at > fault.start]
    assert not any(up for at, up in reachable if at > fault.start)


def test_an_uplink_cut_cuts_the_relay_for_its_length_and_a_run_never_leaves_it_cut(loop_site: LoopbackSite) -> None:
    start = local(MONDAY, "09:05", loop_site.belt)
    plan = plan_for(loop_site, "uplink-cut", FaultOptions(start, uplink_cut=timedelta(minutes=5)))
    (fault,) = plan.faults
    assert fault.end is not None
    states: list[tuple[datetime, bool]] = []
    with TcpRelay(BROKER.host, BROKER.port) as relay:
        uplink = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"uplink-{uuid.uuid4().hex[:8]}")
        disconnected = threading.Event()
        uplink.on_disconnect = lambda *_args: disconnected.set()
        uplink.connect("127.0.0.1", relay.port)
        uplink.loop_start()
        try:
            run_scenario(
                plan,
                loop_site.belt,
                clock=ScenarioClock(start=plan.begin, speed=SPEED),
                site_broker=BROKER,
                stop=threading.Event(),
                until=plan.begin + timedelta(minutes=12),
                uplink=relay,
                on_tick=lambda at: states.append((at, relay.is_cut)),
            )
            assert disconnected.wait(5), "the client through the relay lost its connection"
        finally:
            uplink.disconnect()
            uplink.loop_stop()
        assert all(not cut for at, cut in states if at <= fault.start or at > fault.end)
        assert any(cut for at, cut in states if fault.start < at <= fault.end)
        # A run that ends while the line is cut restores it.
        run_scenario(
            plan,
            loop_site.belt,
            clock=ScenarioClock(start=plan.begin, speed=SPEED),
            site_broker=BROKER,
            stop=threading.Event(),
            until=fault.start + timedelta(minutes=1),
            uplink=relay,
        )
        assert not relay.is_cut
        socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()


def test_the_command_runs_a_scenario_and_writes_its_truth_cut_to_the_duration(
    loop_site: LoopbackSite, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.json"
    code = run_scenario_command(
        loop_site.belt,
        site_ids=["t-site"],
        name="day",
        seed=11,
        speed=1200,
        start_local="2026-11-23 09:00",
        duration=timedelta(minutes=20),
        truth_path=truth,
        site_broker=BROKER,
        stop=threading.Event(),
    )
    assert code == 0
    document = json.loads(truth.read_text(encoding="utf-8"))
    jsonschema.validate(document, truth_json_schema())
    assert (document["from"], document["until"]) == ("2026-11-23T01:00:00Z", "2026-11-23T01:20:00Z")
    assert all(t["taken_at"] < document["until"] for t in document["tickets"])
    lobby = next(s for s in document["spaces"] if s["space"] == "lobby")
    assert len(lobby["headcount"]) > 1


def test_a_modbus_device_the_machine_cannot_serve_ends_the_command_with_a_clear_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = site_file(f"test-{uuid.uuid4().hex[:8]}/sc", 502, 503, host="192.0.2.10")
    unservable = parse_belt(text, source="unservable.yaml")
    code = run_scenario_command(
        unservable,
        site_ids=None,
        name="day",
        seed=1,
        speed=600,
        start_local="2026-11-23 09:00",
        duration=timedelta(minutes=5),
        truth_path=None,
        site_broker=BROKER,
        stop=threading.Event(),
    )
    assert code == 1
    assert "cannot serve t-lobby-counter (modbus-people-counter) on 192.0.2.10:502" in caplog.text
