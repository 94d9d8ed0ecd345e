"""Walk-in visitors of a space that is not booked: Poisson arrivals by local hour, groups, stays cut at closing.

Arrivals follow a piecewise-constant rate (groups per hour by local hour, from :mod:`.profiles`); the exponential
gap is redrawn at every hour boundary, which is exact for a Poisson process by its lack of memory. A group that
would take the space over its capacity at any minute of its stay does not come in (counted as turned away).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from devices.site import Space
from simulators.scenario.profiles import GROUP_SIZES, DropInProfile
from simulators.scenario.timeline import CapacityLedger, OpenInterval, Presence, next_local_hour

# Nobody walks in during the last minutes before closing (the staff send newcomers away).
LAST_ENTRY_BEFORE_CLOSING = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Visits:
    presences: tuple[Presence, ...]
    turned_away: int  # people who found the space full


def group_size(rng: random.Random) -> int:
    sizes = [size for size, _weight in GROUP_SIZES]
    weights = [weight for _size, weight in GROUP_SIZES]
    size: int = rng.choices(sizes, weights)[0]
    return size


def poisson_arrivals(
    interval: OpenInterval,
    groups_per_hour: tuple[float, ...],
    tz: ZoneInfo,
    rng: random.Random,
    *,
    stop_before: datetime,
) -> list[datetime]:
    """Arrival instants (whole seconds) in ``[interval.start, stop_before)`` at ``groups_per_hour[local hour]``."""
    arrivals: list[datetime] = []
    at = interval.start
    while at < stop_before:
        boundary = min(next_local_hour(at, tz), stop_before)
        rate_per_s = groups_per_hour[at.astimezone(tz).hour] / 3600
        if rate_per_s <= 0:
            at = boundary
            continue
        gap = rng.expovariate(rate_per_s)
        if at + timedelta(seconds=gap) >= boundary:
            at = boundary
            continue
        at += timedelta(seconds=max(1, round(gap)))
        if at < stop_before:
            arrivals.append(at)
    return arrivals


def plan_drop_ins(
    *,
    site_id: str,
    space: Space,
    profile: DropInProfile,
    intervals: tuple[OpenInterval, ...],
    tz: ZoneInfo,
    rng: random.Random,
    ledger: CapacityLedger,
) -> Visits:
    presences: list[Presence] = []
    turned_away = 0
    rates = tuple(share * space.capacity for share in profile.arrivals)
    for interval in intervals:
        stop_before = interval.end - LAST_ENTRY_BEFORE_CLOSING
        for enter in poisson_arrivals(interval, rates, tz, rng, stop_before=stop_before):
            people = group_size(rng)
            dwell = timedelta(seconds=round(rng.uniform(*profile.dwell_min) * 60))
            leave = min(enter + dwell, interval.end)
            if ledger.fits(enter, leave, people):
                ledger.add(enter, leave, people)
                presences.append(Presence(enter, leave, site_id, space.id, people, "drop-in"))
            else:
                turned_away += people
    return Visits(tuple(presences), turned_away)
