"""Ingest throughput: edge envelopes through MQTT into PostgreSQL, in messages per second.

Starts a private Mosquitto and a private PostgreSQL in a temporary directory (removed at the end; the machine's
own broker and database are never touched), migrates, and measures three things with the same N pre-encoded
``occupancy.v1`` envelopes, published at QoS 1 as fast as a separate publisher process can:

    baseline  a bare paho subscriber (MQTT 5, QoS 1, automatic acks) that only counts: first publish → last message
    ingest    the server's IngestService storing them: first publish → last row committed
    replay    the same envelopes again: first publish → last one committed as a duplicate (must add 0 rows)

Prints one line per measurement with its ratio to the baseline of this run, and the machine's facts. Exits 1 when
a message was lost or the replay added rows (a correctness failure, not a slow run).

    uv run python bench/ingest_throughput.py [--messages 50000] [--devices 14]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from multiprocessing.connection import Connection
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from devices.broker import BrokerAddress
from devices.envelope import encode_envelope
from devices.readings import OccupancyReading, RegionCount, occupancy_envelope
from devices.site import OCCUPANCY_MODELS, Belt, load_belt
from devices.topics import Channel, device_topic, event_subscription
from server.db.migrate import apply_migrations
from server.db.readings import count_readings
from server.demo import PrivateMosquitto, PrivatePostgres, ServiceError
from server.demo.mosquitto import find_mosquitto
from server.ingest.service import IngestService

DEFAULT_MESSAGES = 50_000
DATABASE = "bench"
# A phase that sees no new message for this long has lost the rest (seconds); none runs longer than PHASE_LIMIT_S.
STALL_S = 30.0
PHASE_LIMIT_S = 600.0
# How often the main thread looks at a counter while a phase runs (seconds): the resolution of every duration.
POLL_S = 0.005

Outgoing = tuple[str, bytes]  # (topic, payload)


class BenchError(Exception):
    """The benchmark could not run (a service or the publisher did not come up)."""


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def occupancy_devices(belt: Belt) -> list[tuple[str, str]]:
    """(site id, device id) of every device of the belt that reports occupancy, in site-file order."""
    return [(site.id, device.id) for site in belt.sites for device in site.devices if device.model in OCCUPANCY_MODELS]


def build_messages(devices: Sequence[tuple[str, str]], count: int, now: datetime) -> list[Outgoing]:
    """`count` envelopes spread round-robin over `devices`, seq 1, 2, ... per device, one second apart, all past."""
    per_device = -(-count // len(devices))
    first_ts = now.replace(microsecond=0) - timedelta(seconds=per_device + 60)
    messages: list[Outgoing] = []
    for index in range(count):
        site_id, device_id = devices[index % len(devices)]
        seq = index // len(devices) + 1
        people = index % 9
        reading = OccupancyReading(
            people=people,
            occupied=people > 0,
            regions=(RegionCount("region1", people, people > 0),),
            trigger="interval",
        )
        envelope = occupancy_envelope(device_id, seq, first_ts + timedelta(seconds=seq), reading)
        messages.append((device_topic(site_id, device_id, Channel.EVENT, "occupancy"), encode_envelope(envelope)))
    return messages


def publish_on_command(host: str, port: int, messages: list[Outgoing], commands: Connection) -> None:
    """The publisher process: on each "go", publish every message at QoS 1 and wait for all PUBACKs.

    Replies "ready" once connected, then after each round its first publish in time.monotonic() seconds. Linux's
    monotonic clock is system-wide, so the parent compares it with its own readings.
    """
    acked = 0
    all_acked = threading.Event()

    def count_puback(*_args: object) -> None:
        nonlocal acked
        acked += 1
        if acked == len(messages):
            all_acked.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher", protocol=paho.MQTTv5)
    client.on_publish = count_puback
    client.max_inflight_messages_set(0)  # no client-side window: as fast as the broker takes them
    client.connect(host, port)
    client.loop_start()
    commands.send("ready")
    while commands.recv() == "go":
        acked = 0
        all_acked.clear()
        started = time.monotonic()
        for topic, payload in messages:
            client.publish(topic, payload, qos=1)
        all_acked.wait(PHASE_LIMIT_S)
        commands.send(started)
    client.disconnect()
    client.loop_stop()


class Publisher:
    """The publisher process, started once and told to publish the whole list once per measurement."""

    def __init__(self, broker: BrokerAddress, messages: list[Outgoing]) -> None:
        # spawn: a fresh interpreter that inherits no locks, sockets or threads from this one.
        context = multiprocessing.get_context("spawn")
        self._commands, child_end = context.Pipe()
        self._process = context.Process(
            target=publish_on_command, args=(broker.host, broker.port, messages, child_end), daemon=True
        )
        self._process.start()
        child_end.close()
        if not self._commands.poll(60) or self._commands.recv() != "ready":
            self.close()
            raise BenchError("the publisher process did not connect within 60 s")

    def publish_all(self) -> None:
        self._commands.send("go")

    def first_publish_at(self) -> float:
        """When the round just sent began publishing; waits (bounded) for the round's last PUBACK."""
        try:
            if not self._commands.poll(PHASE_LIMIT_S):
                raise BenchError(f"the publisher did not report within {PHASE_LIMIT_S:.0f} s")
            started = self._commands.recv()
        except EOFError as exc:
            raise BenchError(f"the publisher process exited with status {self._process.exitcode}") from exc
        return float(started)

    def close(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError):  # the child has gone already
                self._commands.send("stop")
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(10)


def wait_for_count(read: Callable[[], int], target: int) -> tuple[int, float]:
    """Poll `read` until it reaches `target` or stalls; returns (last count, time.monotonic() of the last change)."""
    last, changed_at = read(), time.monotonic()
    limit = changed_at + PHASE_LIMIT_S
    while last < target and time.monotonic() - changed_at < STALL_S and time.monotonic() < limit:
        time.sleep(POLL_S)
        now_count = read()
        if now_count != last:
            last, changed_at = now_count, time.monotonic()
    return last, changed_at


class CountingSubscriber:
    """The baseline: paho alone, MQTT 5, QoS 1, acknowledging automatically, counting what arrives."""

    def __init__(self, broker: BrokerAddress) -> None:
        self.received = 0  # written by paho's network thread only
        subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=paho.MQTTv5)
        self._client.on_message = self._count
        self._client.on_subscribe = lambda *_args: subscribed.set()
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        self._client.subscribe(event_subscription(), qos=1)
        if not subscribed.wait(10):
            self.close()
            raise BenchError("the baseline subscriber got no SUBACK within 10 s")

    def _count(self, *_args: object) -> None:
        self.received += 1

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def measure_baseline(broker: BrokerAddress, publisher: Publisher, count: int) -> Measurement:
    subscriber = CountingSubscriber(broker)
    try:
        publisher.publish_all()
        received, last_at = wait_for_count(lambda: subscriber.received, count)
        started = publisher.first_publish_at()
    finally:
        subscriber.close()
    return Measurement("baseline", received, last_at - started)


def received_by(service: IngestService) -> int:
    received = service.stats_snapshot()["received"]
    assert isinstance(received, int)
    return received


@dataclass(frozen=True, slots=True)
class IngestRun:
    ingest: Measurement
    replay: Measurement
    stored: int  # rows in occupancy_reading after the first delivery
    replay_added: int  # rows the replay added: must be 0
    stats: dict[str, object]


def measure_ingest(belt: Belt, broker: BrokerAddress, conninfo: str, publisher: Publisher, count: int) -> IngestRun:
    """The first delivery, then the replay; the service counts a message received once its batch has committed."""
    service = IngestService(belt=belt, broker=broker, conninfo=conninfo, client_id="bench-ingest")
    service.start()
    try:
        if not service.wait_connected(10):
            raise BenchError("the ingest did not connect to the broker within 10 s")
        publisher.publish_all()
        received, last_at = wait_for_count(lambda: received_by(service), count)
        ingest = Measurement("ingest", received, last_at - publisher.first_publish_at())
        stored = stored_rows(conninfo)
        publisher.publish_all()
        received, last_at = wait_for_count(lambda: received_by(service), 2 * count)
        replay = Measurement("replay", received - ingest.messages, last_at - publisher.first_publish_at())
        replay_added = stored_rows(conninfo) - stored
    finally:
        service.stop()
    return IngestRun(ingest, replay, stored, replay_added, service.stats_snapshot())


def stored_rows(conninfo: str) -> int:
    with psycopg.connect(conninfo) as connection:
        return count_readings(connection)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine_facts(conninfo: str, load_at_start: str) -> str:
    with psycopg.connect(conninfo) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    postgres = row[0].split()[0] if row else "?"
    mosquitto = subprocess.run([find_mosquitto(), "-h"], capture_output=True, text=True, check=False).stdout
    mosquitto_version = mosquitto.split("\n", 1)[0].removeprefix("mosquitto version ")
    libpq = psycopg.pq.version()  # major * 10000 + minor
    return (
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, paho-mqtt {version('paho-mqtt')}, psycopg {psycopg.__version__} "
        f"(libpq {libpq // 10000}.{libpq % 10000}), PostgreSQL {postgres}, Mosquitto {mosquitto_version}; "
        f"load average (1/5/15 min) {load_at_start} at the start, {load_average()} at the end"
    )


def table(measurements: Sequence[Measurement]) -> str:
    baseline = measurements[0].rate
    lines = [f"{'measurement':<12}{'messages':>10}{'seconds':>10}{'msg/s':>10}{'ratio':>8}"]
    for m in measurements:
        ratio = m.rate / baseline if baseline > 0 else 0.0
        lines.append(f"{m.name:<12}{m.messages:>10d}{m.seconds:>10.2f}{m.rate:>10.0f}{ratio:>8.2f}")
    return "\n".join(lines)


def measure_in_private_services(belt: Belt, messages: list[Outgoing]) -> tuple[Measurement, IngestRun, str]:
    """The baseline, the ingest and the replay against a private broker and database; and the machine's facts."""
    load_at_start = load_average()
    with tempfile.TemporaryDirectory(prefix="sc-bench-") as workdir:
        # The broker and the database run as their own accounts, which must be able to reach their folders.
        os.chmod(workdir, 0o711)
        with (
            PrivateMosquitto(Path(workdir) / "mosquitto") as mosquitto,
            PrivatePostgres(Path(workdir) / "postgres") as postgres,
        ):
            postgres.ensure_database(DATABASE)
            conninfo = postgres.conninfo(DATABASE)
            apply_migrations(conninfo)
            broker = BrokerAddress(mosquitto.host, mosquitto.port)
            publisher = Publisher(broker, messages)
            try:
                baseline = measure_baseline(broker, publisher, len(messages))
                ingest_run = measure_ingest(belt, broker, conninfo, publisher, len(messages))
            finally:
                publisher.close()
            return baseline, ingest_run, machine_facts(conninfo, load_at_start)


def run(count: int, device_count: int) -> int:
    belt = load_belt()
    devices = occupancy_devices(belt)[:device_count]
    messages = build_messages(devices, count, datetime.now(UTC))
    print(f"ingest throughput: {count} occupancy.v1 envelopes from {len(devices)} devices, QoS 1", flush=True)
    baseline, ingest_run, facts = measure_in_private_services(belt, messages)
    print(table([baseline, ingest_run.ingest, ingest_run.replay]))
    print(f"stored {ingest_run.stored} of {count} rows; the replay added {ingest_run.replay_added}")
    print(f"ingest stats: {ingest_run.stats}")
    print(facts)
    failures = []
    if baseline.messages != count:
        failures.append(f"the baseline subscriber received {baseline.messages} of {count}")
    if ingest_run.stored != count:
        failures.append(f"{count - ingest_run.stored} of {count} messages were not stored")
    if ingest_run.replay.messages != count:
        failures.append(f"the ingest took {ingest_run.replay.messages} of {count} replayed messages")
    if ingest_run.replay_added != 0:
        failures.append(f"the replay added {ingest_run.replay_added} rows (expected 0)")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    available = len(occupancy_devices(load_belt()))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="envelopes per measurement (N)")
    parser.add_argument(
        "--devices",
        type=int,
        default=available,
        help=f"occupancy devices of the shipped belt to spread over (1..{available})",
    )
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    if not 1 <= args.devices <= available:
        parser.error(f"--devices must be in 1..{available} (the shipped belt's occupancy devices)")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(args.messages, args.devices)
    except (BenchError, ServiceError) as exc:
        print(f"ingest_throughput: could not run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
