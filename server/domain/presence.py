"""What a bookable space's devices say about people being there, over a window of time (no I/O).

Presence is shown by a reading of at least one person from any of the space's sensors, or by a card read at one of
its doors. Absence needs more: every configured sensor fresh and all of them counting nobody. A sensor that is
silent or stale makes presence ``unknown``, never ``absent``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.domain.occupancy import OccupancyState, SensorReport, assess_live_occupancy
from server.domain.release_types import Presence, PresenceNow, SensorReading, SpaceEvidence
from server.domain.timefmt import utc_text

# Readings listed in a decision's evidence at most (the newest ones).
EVIDENCE_READINGS = 8


@dataclass(frozen=True, slots=True)
class Sighting:
    """The first sign of people in a window: a reading of people or a card read."""

    at: datetime
    source: str  # 'sensor' | 'badge'
    detail: dict[str, Any]


class SpaceView:
    """The evidence of one space, indexed for the questions the release rules ask."""

    def __init__(self, evidence: SpaceEvidence) -> None:
        self.evidence = evidence
        self.readings = sorted(evidence.readings, key=lambda r: (r.at, r.device_id, r.seq))
        self.badge_ins = sorted(evidence.badge_ins, key=lambda b: b.at)

    @property
    def has_sensors(self) -> bool:
        return bool(self.evidence.sensors)

    def newest(self, now: datetime) -> dict[str, SensorReading]:
        newest: dict[str, SensorReading] = {}
        for reading in self.readings:
            if reading.device_id in self.evidence.sensors:
                newest[reading.device_id] = reading  # sorted by time: the last one wins
        return newest

    def presence_now(self, now: datetime) -> PresenceNow:
        if not self.evidence.sensors:
            return PresenceNow(Presence.UNKNOWN, None, "no occupancy sensor in this space")
        reports = {d: SensorReport(r.people, min(r.at, now)) for d, r in self.newest(now).items()}
        live = assess_live_occupancy(
            sensors=self.evidence.sensors, reports=reports, now=now, stale_after=self.evidence.stale_after
        )
        stale = tuple(
            sorted(
                d
                for d in self.evidence.sensors
                if d not in reports or now - reports[d].observed_at > self.evidence.stale_after
            )
        )
        presence = {
            OccupancyState.OCCUPIED: Presence.PRESENT,
            OccupancyState.EMPTY: Presence.ABSENT,
            OccupancyState.UNKNOWN: Presence.UNKNOWN,
        }[live.state]
        return PresenceNow(presence, live.people, live.reason, stale)

    def first_sighting(self, start: datetime, end: datetime, *, after: bool = False) -> Sighting | None:
        """The earliest sign of people in [start, end] ((start, end] when ``after``)."""

        def inside(at: datetime) -> bool:
            return (start < at if after else start <= at) and at <= end

        reading = next((r for r in self.readings if r.people > 0 and inside(r.at)), None)
        badge = next((b for b in self.badge_ins if inside(b.at)), None)
        if reading is not None and (badge is None or reading.at <= badge.at):
            detail = {"device": reading.device_id, "at": utc_text(reading.at), "people": reading.people}
            return Sighting(reading.at, "sensor", detail)
        if badge is not None:
            return Sighting(badge.at, "badge", {"device": badge.device_id, "at": utc_text(badge.at)})
        return None

    def last_people_at(self, since: datetime, now: datetime) -> datetime | None:
        """The newest reading of people (or card read) in [since, now]."""
        times = [r.at for r in self.readings if r.people > 0 and since <= r.at <= now]
        times += [b.at for b in self.badge_ins if since <= b.at <= now]
        return max(times, default=None)

    def empty_since(self, last_people: datetime, now: datetime) -> datetime | None:
        """When the space was first seen empty after ``last_people``: the first reading after the last reading of
        people (all later readings count nobody, since ``last_people`` is the last sighting); None when no sensor has
        reported since. "After" is in report order: the first empty report may carry the same second."""
        last = max(
            (i for i, r in enumerate(self.readings) if r.people > 0 and r.at == last_people),
            default=None,
        )
        if last is not None:
            return next((r.at for r in self.readings[last + 1 :] if r.at <= now), None)
        return next((r.at for r in self.readings if last_people < r.at <= now), None)

    def covered(self, since: datetime, now: datetime) -> bool:
        """Every sensor reported throughout [since, now] with no gap longer than the stale threshold."""
        limit = self.evidence.stale_after
        for sensor in self.evidence.sensors:
            times = [r.at for r in self.readings if r.device_id == sensor and since < r.at <= now]
            marks = [since, *times, now]
            if any(later - earlier > limit for earlier, later in itertools.pairwise(marks)):
                return False
        return True

    def presence_run_start(self, now: datetime) -> datetime:
        """Where the current run of readings of people began (after the newest empty reading)."""
        last_empty = max((r.at for r in self.readings if r.people == 0 and r.at <= now), default=None)
        run = [
            r.at for r in self.readings if r.people > 0 and r.at <= now and (last_empty is None or r.at > last_empty)
        ]
        return min(run, default=now)

    def summary(self, now: datetime, *, since: datetime | None = None) -> dict[str, Any]:
        """The evidence behind a decision, as JSON: the presence now, the newest readings, card reads."""
        presence = self.presence_now(now)
        window = [r for r in self.readings if since is None or r.at >= since]
        return {
            "now": utc_text(now),
            "presence": presence.presence.value,
            "people": presence.people,
            "reason": presence.reason,
            "sensors": list(self.evidence.sensors),
            "stale_after_s": self.evidence.stale_after.total_seconds(),
            "readings": _readings(window[-EVIDENCE_READINGS:]),
            "badge_ins": [
                {"device": b.device_id, "at": utc_text(b.at)} for b in self.badge_ins if since is None or b.at >= since
            ][-EVIDENCE_READINGS:],
        }


def _readings(readings: Iterable[SensorReading]) -> list[dict[str, Any]]:
    return [{"device": r.device_id, "at": utc_text(r.at), "people": r.people} for r in readings]


def span_text(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:g} min"
