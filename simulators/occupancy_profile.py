"""How many people a space holds at a local time of day: a plausible, seeded pattern for simulated sensors.

Curves are shares of capacity by local hour, shaped like a community centre's day (a morning peak around 10:00 for
the service windows and the day-care centre, activities in the afternoon, meetings at fixed hours). They are
illustrative, not measured: a later scenario issue replaces them with arrivals by hour.
"""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from devices.site import Space

# Share of capacity by local hour 0..23 while open.
DROP_IN = (0, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.3, 0.45, 0.4, 0.2, 0.25, 0.4, 0.45, 0.35, 0.2, 0.1, 0.05, 0, 0, 0, 0)
MEETINGS = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0.6, 0.7, 0.5, 0, 0.2, 0.7, 0.6, 0.4, 0.1, 0, 0, 0, 0, 0, 0)
DAY_CARE = (0, 0, 0, 0, 0, 0, 0, 0, 0.3, 0.6, 0.7, 0.7, 0.6, 0.5, 0.6, 0.6, 0.4, 0.1, 0, 0, 0, 0, 0, 0)
SERVICE_WINDOWS = (0, 0, 0, 0, 0, 0, 0, 0, 0.2, 0.5, 0.6, 0.4, 0.2, 0.3, 0.4, 0.35, 0.2, 0.05, 0, 0, 0, 0, 0, 0)

# Space kinds of the site file (devices.site.SpaceKind) to their curve; kinds not listed are drop-in spaces.
PROFILE_OF_KIND: dict[str, tuple[float, ...]] = {
    "activity-room": MEETINGS,
    "classroom": MEETINGS,
    "consulting-room": MEETINGS,
    "council-hall": MEETINGS,
    "meeting-room": MEETINGS,
    "day-care": DAY_CARE,
    "service-hall": SERVICE_WINDOWS,
    "waiting-area": SERVICE_WINDOWS,
}


def target_people(space: Space, at: datetime, tz: ZoneInfo) -> float:
    """The expected headcount at ``at`` (aware): 0 when the space is closed."""
    if not space.hours.is_open(at, tz):
        return 0.0
    local = at.astimezone(tz)
    shares = PROFILE_OF_KIND.get(space.kind, DROP_IN)
    # Interpolate between hours so counts drift instead of jumping on the hour.
    hour = local.hour + local.minute / 60
    share = shares[int(hour)] + (shares[(int(hour) + 1) % 24] - shares[int(hour)]) * (hour - int(hour))
    return share * space.capacity


def next_count(current: int, target: float, capacity: int, rng: random.Random) -> int:
    """One step of a random walk pulled towards ``target``: people arrive and leave a few at a time.

    At closing time (target 0) people only leave, so a closed space empties instead of hovering around one person.
    """
    if target <= 0:
        return max(0, current - max(1, round(current * 0.3)))
    pull = (target - current) * 0.3
    step = round(pull + rng.gauss(0, 0.8))
    return max(0, min(capacity, current + step))
