"""Simulated Milesight VS121 sensors for the uplink tests: a generated site file, numbered reports, and a reader
of what reached the database.

Report ``k`` of every sensor is observed at ``base + k`` seconds (the VS121 writes its times to the second), so the
database can be checked for each device's whole history: seq ``k`` must carry the time of report ``k``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from devices.mqtt_link import MqttLink, PublishReceipt
from devices.site import Belt, load_belt
from devices.vendors.milesight_vs121 import encode_vs121_report

SHANGHAI = timedelta(hours=8)


def write_belt(path: Path, *, sites: dict[str, int], vendor_root: str) -> Belt:
    """A site file with ``sites[site_id]`` VS121 sensors in one space of each site; returns it loaded."""
    lines = ["schema: smartcomplex.site/v1", "name: Uplink test belt", "timezone: Asia/Shanghai", "sites:"]
    for site_id, sensors in sites.items():
        lines += [
            f"  - id: {site_id}",
            f"    name: Site {site_id}",
            "    address: No. 1 Test Road",
            "    floors: [{id: 1f, name: First floor, level: 1}]",
            "    spaces:",
            "      - {id: hall, name: Hall, floor: 1f, kind: service-hall, capacity: 50, bookable: false,"
            ' hours: {mon-sun: "00:00-24:00"}}',
            "    devices:",
        ]
        for index in range(sensors):
            serial = f"{site_id}-{index}"
            lines += [
                f"      - id: {site_id}-vs121-{index}",
                "        model: milesight-vs121",
                "        space: hall",
                "        transport: mqtt",
                f"        serial: {serial}",
                f"        vendor_topic: {vendor_root}/vs121/{serial}",
                "        report_interval_s: 1",
            ]
    path.write_text("\n".join(lines) + "\n")
    return load_belt(path)


def vs121_report(serial: str, k: int, base: datetime) -> bytes:
    """Report ``k`` of a sensor: observed at ``base + k`` s, ``k % 7`` people in its one region."""
    return encode_vs121_report(
        device_sn=serial,
        observed_at=base + timedelta(seconds=k),
        utc_offset=SHANGHAI,
        report_type="interval",
        region_names=["region1"],
        region_counts=[k % 7],
    )


@dataclass
class SteadySensors:
    """Publishes report 0, 1, 2, ... of every sensor, all sensors each ``period_s``, on a thread, until stopped."""

    link: MqttLink
    sensors: dict[str, str]  # vendor topic → serial
    base: datetime
    period_s: float
    rounds: int = 0  # reports published per sensor so far
    receipts: list[PublishReceipt] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="steady-sensors", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stop after the current round; returns how many reports each sensor published."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.rounds

    def all_acknowledged(self) -> bool:
        return all(receipt.acknowledged for receipt in self.receipts)

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            for topic, serial in self.sensors.items():
                self.receipts.append(self.link.publish(topic, vs121_report(serial, self.rounds, self.base)))
            self.rounds += 1
            due += self.period_s
            self._stop.wait(max(0.0, due - time.monotonic()))


def stored_history(dsn: str) -> dict[str, list[tuple[int, datetime]]]:
    """Every stored reading as (seq, ts), per device, in seq order."""
    history: dict[str, list[tuple[int, datetime]]] = {}
    with psycopg.connect(dsn) as conn:
        for device_id, seq, ts in conn.execute("SELECT device_id, seq, ts FROM occupancy_reading ORDER BY 1, 2, 3"):
            history.setdefault(device_id, []).append((seq, ts))
    return history


def stored_total(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM occupancy_reading").fetchone()
    return int(row[0]) if row else 0


def expected_history(reports: int, base: datetime) -> list[tuple[int, datetime]]:
    """What a sensor that published ``reports`` reports must have in the database: seq k observed at base + k s."""
    return [(k, base + timedelta(seconds=k)) for k in range(reports)]
