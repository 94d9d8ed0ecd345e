"""The anchor of a simulated clock, shared by a scenario (which writes it) and the server (which reads it).

A demo plays a day on an accelerated clock. For the server's rules (grace periods, holds, deadlines) to run on that
same clock, the scenario writes where its clock stands in a small JSON file before it enters the day's bookings:

    {"schema": "smartcomplex.clock/v1", "simulated_start": T, "wall_start": T, "speed": 720.0}

meaning: at the wall instant ``wall_start`` the simulated time is ``simulated_start``, and it runs ``speed`` times
faster than the wall clock, before and after that instant alike. T is RFC 3339 UTC. The file is written atomically
(a temporary file renamed over it), so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from devices.timestamps import utc_now, utc_text

CLOCK_SCHEMA = "smartcomplex.clock/v1"


class ClockAnchorError(ValueError):
    """A clock file that cannot be read or does not hold a valid anchor."""


@dataclass(frozen=True, slots=True)
class ClockAnchor:
    simulated_start: datetime
    wall_start: datetime
    speed: float

    def __post_init__(self) -> None:
        if self.simulated_start.tzinfo is None or self.wall_start.tzinfo is None:
            raise ClockAnchorError("clock anchor times must be timezone-aware")
        if not self.speed > 0:
            raise ClockAnchorError(f"clock speed must be positive, not {self.speed}")

    def simulated(self, wall: datetime) -> datetime:
        """The simulated instant at the wall instant ``wall``."""
        return self.simulated_start + (wall - self.wall_start) * self.speed

    def wall(self, simulated: datetime) -> datetime:
        """The wall instant at which the simulated clock shows ``simulated``."""
        return self.wall_start + (simulated - self.simulated_start) / self.speed

    def wall_seconds(self, simulated_span: timedelta) -> float:
        return simulated_span.total_seconds() / self.speed

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema": CLOCK_SCHEMA,
                "simulated_start": utc_text(self.simulated_start),
                "wall_start": utc_text(self.wall_start),
                "speed": self.speed,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ClockAnchor:
        try:
            document = json.loads(text)
            if document.get("schema") != CLOCK_SCHEMA:
                raise ClockAnchorError(f"not a {CLOCK_SCHEMA} document")
            return cls(
                simulated_start=datetime.fromisoformat(document["simulated_start"]),
                wall_start=datetime.fromisoformat(document["wall_start"]),
                speed=float(document["speed"]),
            )
        except ClockAnchorError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ClockAnchorError(f"bad clock anchor: {exc}") from exc


def write_clock_anchor(path: Path, anchor: ClockAnchor) -> None:
    """Write ``anchor`` to ``path`` atomically; OSError when the directory cannot be written."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(anchor.to_json() + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_clock_anchor(path: Path) -> ClockAnchor | None:
    """The anchor in ``path``; None while the file does not exist; ClockAnchorError when it is not valid."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ClockAnchorError(f"{path}: {exc}") from exc
    return ClockAnchor.from_json(text)


class ClockNotReady(RuntimeError):
    """The simulated clock's anchor has not been written yet."""


class SimulatedClock:
    """Reads the anchor file when it changes (by modification time), so a scenario that starts again is followed."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._anchor: ClockAnchor | None = None
        self._mtime_ns: int | None = None

    def _current(self) -> ClockAnchor | None:
        with self._lock:
            try:
                mtime_ns = self._path.stat().st_mtime_ns
            except FileNotFoundError:
                return self._anchor
            if mtime_ns != self._mtime_ns:
                anchor = read_clock_anchor(self._path)
                self._anchor, self._mtime_ns = anchor, mtime_ns
            return self._anchor

    def _anchor_or_raise(self) -> ClockAnchor:
        anchor = self._current()
        if anchor is None:
            raise ClockNotReady(f"the simulated clock has not started (no anchor in {self._path} yet)")
        return anchor

    @property
    def ready(self) -> bool:
        return self._current() is not None

    def now(self) -> datetime:
        return self._anchor_or_raise().simulated(utc_now())

    def from_wall(self, wall: datetime) -> datetime:
        return self._anchor_or_raise().simulated(wall)

    def to_wall(self, at: datetime) -> datetime:
        return self._anchor_or_raise().wall(at)

    def wall_seconds(self, span: timedelta) -> float:
        return self._anchor_or_raise().wall_seconds(span)
