"""A simulated Milesight VS121 occupancy sensor: vendor JSON reports, on an interval and on every change."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from devices.site import Device, Space
from devices.vendors.milesight_vs121 import encode_vs121_report
from simulators.occupancy_profile import next_count, target_people


@dataclass(frozen=True, slots=True)
class VendorReport:
    topic: str
    payload: bytes
    people: int


@dataclass(slots=True)
class Vs121Simulator:
    """Holds one sensor's count; :meth:`step` advances it to a simulated time and returns the reports due.

    The count follows a seeded random walk towards the space's usual profile (``simulate sensors``), or the true
    count a scenario feeds to :meth:`step`.

    Report timestamps are the wall clock (``wall_now``), not the simulated time: the system stores true times and
    refuses readings from the future, while the simulated time only decides how busy the space is.
    """

    device: Device
    space: Space
    tz: ZoneInfo
    seed: int
    people: int = 0
    _rng: random.Random = field(init=False)
    _next_interval_report: datetime | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.device.vendor_topic is None:
            raise ValueError(f"device {self.device.id} has no vendor_topic to publish on")
        self._rng = random.Random(f"{self.seed}:{self.device.id}")

    def step(
        self, simulated_now: datetime, wall_now: datetime, *, true_people: int | None = None
    ) -> list[VendorReport]:
        """Advance to ``simulated_now``. ``true_people`` (a scenario's true count, >= 0) replaces the random walk;
        it is not capped at the space's capacity, since a sensor counts whoever is there."""
        previous = self.people
        if true_people is None:
            self.people = next_count(
                self.people, target_people(self.space, simulated_now, self.tz), self.space.capacity, self._rng
            )
        elif true_people < 0:
            raise ValueError(f"true_people {true_people} is negative")
        else:
            self.people = true_people
        reports = []
        if self.people != previous:
            reports.append(self.report("trigger", wall_now))
        due = self._next_interval_report
        if due is None or simulated_now >= due:
            reports.append(self.report("interval", wall_now))
            self._next_interval_report = simulated_now + timedelta(seconds=self.device.report_interval_s)
        return reports

    def report(self, report_type: str, wall_now: datetime) -> VendorReport:
        offset = wall_now.astimezone(self.tz).utcoffset() or timedelta(0)
        payload = encode_vs121_report(
            device_sn=self.device.serial or self.device.id,
            observed_at=wall_now,
            utc_offset=offset,
            report_type=report_type,
            region_names=["region1"],
            region_counts=[self.people],
        )
        return VendorReport(topic=str(self.device.vendor_topic), payload=payload, people=self.people)
