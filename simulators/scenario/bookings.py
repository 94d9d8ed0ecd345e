"""Bookings of a bookable space and the people they bring: branch activities, classes, meetings.

Bookings start on local half-hours and fit inside one opening interval. Each has one outcome:

- ``attended``: the first person comes between 10 minutes before the start (never before the previous booking's
  end or the opening) and 2 minutes after it; the last one leaves in the final minutes, by the end;
- ``late``: nobody comes until ``arrived_at``, 5-20 minutes after the start; then as attended;
- ``ended_early``: as attended, but everyone is gone at ``emptied_at``, 35-75 % into the booking;
- ``no_show``: nobody comes; the room stays empty from the start to the end.

A bookable space holds its bookings' people only (no walk-ins), so its headcount is the booking truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from devices.site import Space
from simulators.scenario.profiles import (
    ENDED_EARLY_SHARE,
    LATE_MIN,
    LATE_SHARE,
    NO_SHOW_SHARE,
    BookingProfile,
)
from simulators.scenario.timeline import OpenInterval, Presence

OUTCOMES = ("attended", "late", "no_show", "ended_early")
SLOT = timedelta(minutes=30)
EARLY_ARRIVAL = timedelta(minutes=10)  # people come up to this long before their booking starts
ON_TIME_UNTIL = timedelta(minutes=2)  # the first person of an on-time booking is in by start + 2 min
ARRIVAL_SPREAD_S = {"attended": 8 * 60, "ended_early": 8 * 60, "late": 5 * 60}  # the rest follow the first within
LEAVING_SPREAD_S = 6 * 60  # people leave over the last minutes of their booking
MIN_STAY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Booking:
    """One booking and what really happened. ``arrived_at``: the first person in; ``emptied_at``: the last one out
    (both None for a no-show). ``attendees``: how many came (0 for a no-show)."""

    id: str
    site: str
    space: str
    start: datetime
    end: datetime
    organiser_kind: str
    organiser_card: int
    attendees: int
    outcome: str
    arrived_at: datetime | None
    emptied_at: datetime | None


def _seconds(low: float, high: float, rng: random.Random) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high)))


def _first_slot(interval: OpenInterval, tz: ZoneInfo) -> datetime:
    """The first local full or half hour at or after the interval's start."""
    local = interval.start.astimezone(tz)
    past = timedelta(minutes=local.minute % 30, seconds=local.second, microseconds=local.microsecond)
    return interval.start if not past else interval.start - past + SLOT


def _outcome(rng: random.Random) -> str:
    draw = rng.random()
    if draw < NO_SHOW_SHARE:
        return "no_show"
    if draw < NO_SHOW_SHARE + LATE_SHARE:
        return "late"
    if draw < NO_SHOW_SHARE + LATE_SHARE + ENDED_EARLY_SHARE:
        return "ended_early"
    return "attended"


def plan_bookings(
    *,
    site_id: str,
    space: Space,
    profile: BookingProfile,
    intervals: tuple[OpenInterval, ...],
    tz: ZoneInfo,
    rng: random.Random,
) -> tuple[list[Booking], list[Presence]]:
    bookings: list[Booking] = []
    presences: list[Presence] = []
    for interval in intervals:
        slot = _first_slot(interval, tz)
        free_from = interval.start  # people of the next booking never come before the previous one ended
        while slot < interval.end:
            fitting = [
                minutes for minutes in profile.durations_min if slot + timedelta(minutes=minutes) <= interval.end
            ]
            if not fitting:
                break
            if rng.random() >= profile.busy:
                slot += SLOT
                continue
            end = slot + timedelta(minutes=rng.choice(fitting))
            booking, people = _play(site_id, space, profile, slot, end, max(slot - EARLY_ARRIVAL, free_from), tz, rng)
            bookings.append(booking)
            presences.extend(people)
            slot = free_from = end
    return bookings, presences


def _play(
    site_id: str,
    space: Space,
    profile: BookingProfile,
    start: datetime,
    end: datetime,
    earliest: datetime,
    tz: ZoneInfo,
    rng: random.Random,
) -> tuple[Booking, list[Presence]]:
    booking_id = f"{site_id}/{space.id}/{start.astimezone(tz):%Y-%m-%dT%H:%M}"
    organiser = rng.choice(profile.organisers)
    card = rng.randrange(100_000, 1_000_000)  # a resident's or member's six-digit card number
    outcome = _outcome(rng)
    expected = max(1, round(space.capacity * rng.uniform(*profile.attendance)))
    if outcome == "no_show":
        return Booking(booking_id, site_id, space.id, start, end, organiser, card, 0, "no_show", None, None), []
    if outcome == "late":
        first = start + _seconds(LATE_MIN[0] * 60, LATE_MIN[1] * 60, rng)
    else:
        first = earliest + _seconds(0, (start + ON_TIME_UNTIL - earliest).total_seconds(), rng)
    arrivals = [first] + [first + _seconds(0, ARRIVAL_SPREAD_S[outcome], rng) for _ in range(expected - 1)]
    if outcome == "ended_early":
        emptying = start + (end - start) * rng.uniform(0.35, 0.75)
        leaves = [max(a + MIN_STAY, emptying - _seconds(0, 5 * 60, rng)) for a in arrivals]
    else:
        leaves = [max(a + MIN_STAY, end - _seconds(0, LEAVING_SPREAD_S, rng)) for a in arrivals]
    leaves = [leave.replace(microsecond=0) for leave in leaves]
    people = [
        Presence(enter, leave, site_id, space.id, 1, "booking", booking_id)
        for enter, leave in zip(arrivals, leaves, strict=True)
    ]
    booking = Booking(booking_id, site_id, space.id, start, end, organiser, card, expected, outcome, first, max(leaves))
    return booking, people
