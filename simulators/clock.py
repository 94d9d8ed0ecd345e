"""A scenario clock: simulated local time running ``speed`` times faster than the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(slots=True)
class ScenarioClock:
    """``now()`` is the simulated time: ``start`` plus the elapsed monotonic time multiplied by ``speed``."""

    start: datetime
    speed: float = 1.0
    monotonic: Callable[[], float] = time.monotonic
    _origin: float = field(init=False)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("scenario start must be timezone-aware")
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        self._origin = self.monotonic()

    def start_at(self, origin: float) -> None:
        """Simulated time is ``start`` at the ``monotonic()`` instant ``origin`` (past or future): a clock shared
        with another program through an anchor starts at the anchor's instant, not whenever this line runs.
        Before ``origin``, ``now()`` is earlier than ``start``."""
        self._origin = origin

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self.monotonic() - self._origin) * self.speed)

    def real_seconds(self, simulated: timedelta) -> float:
        """How long ``simulated`` lasts on the wall clock."""
        return simulated.total_seconds() / self.speed
