"""One site's day of tickets and staffed windows, planned with the queue model of :mod:`.queue_model`.

Residents take tickets while a window serving their service is staffed (Poisson arrivals by local hour, see
:mod:`.profiles`); dispensers stop issuing 15 minutes before those windows close. Staff open each window at the
start of its hours (within 2 minutes) and take one 15-minute break in a shift of 3 hours or more, staggered 20
minutes apart across the windows of a hall.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from devices.site import Site
from simulators.scenario.profiles import DEFAULT_DEMAND, SERVICE_DEMAND, ticket_rate
from simulators.scenario.queue_model import (
    ONE_SECOND,
    Event,
    Held,
    QueueSimulation,
    StaffedWindow,
    Ticket,
    WindowSession,
)
from simulators.scenario.timeline import OpenInterval, Presence, open_intervals
from simulators.scenario.visits import poisson_arrivals

__all__ = ["QueueDay", "Ticket", "WindowSession", "plan_queue"]

ISSUING_STOPS_BEFORE_CLOSING = timedelta(minutes=15)
OPEN_DELAY_S = (0, 120)
BREAK_FROM_SHIFT = timedelta(hours=3)
BREAK_STAGGER = timedelta(minutes=20)


@dataclass(frozen=True, slots=True)
class QueueDay:
    tickets: tuple[Ticket, ...]
    sessions: tuple[WindowSession, ...]
    presences: tuple[Presence, ...]
    turned_away: Mapping[str, int]  # waiting space id -> residents who found it full


def _issuing_intervals(windows: Sequence[StaffedWindow], service: str) -> list[OpenInterval]:
    """When the dispenser issues tickets for ``service``: any of its windows staffed, bar the last 15 minutes."""
    spans = sorted(
        (iv.start, iv.end - ISSUING_STOPS_BEFORE_CLOSING)
        for w in windows
        if service in w.spec.services
        for iv in w.intervals
        if iv.end - ISSUING_STOPS_BEFORE_CLOSING > iv.start
    )
    merged: list[OpenInterval] = []
    for start, end in spans:
        if merged and start <= merged[-1].end:
            merged[-1] = OpenInterval(merged[-1].start, max(merged[-1].end, end))
        else:
            merged.append(OpenInterval(start, end))
    return merged


def _break_at(interval: OpenInterval, position: int, windows_in_hall: int) -> datetime | None:
    if interval.length < BREAK_FROM_SHIFT:
        return None
    offset = BREAK_STAGGER * (position - (windows_in_hall - 1) / 2)
    at = interval.start + interval.length / 2 + offset
    at = min(max(at, interval.start + timedelta(hours=1)), interval.end - timedelta(hours=1))
    return at.replace(second=0, microsecond=0)


def plan_queue(
    site: Site,
    *,
    day: date,
    tz: ZoneInfo,
    begin: datetime,
    rng: random.Random,
    staff_cards: Mapping[str, int],
    extra_arrivals: Sequence[datetime] = (),
) -> QueueDay:
    """The site's day of tickets; ``extra_arrivals`` are residents of a crowd surge who take a ticket."""
    windows = [
        StaffedWindow(w, order, staff_cards[w.id], open_intervals(site.window_hours(w.id), day, tz, begin=begin))
        for order, w in enumerate(site.windows)
    ]
    simulation = QueueSimulation(site, rng, windows)
    for window in windows:
        in_hall = [w for w in windows if w.spec.space == window.spec.space]
        for interval in window.intervals:
            opened = min(interval.start + timedelta(seconds=rng.randint(*OPEN_DELAY_S)), interval.end - ONE_SECOND)
            simulation.push(opened, Event.OPEN, (window, interval))
            simulation.push(interval.end, Event.CLOSE, (window, interval))
            break_at = _break_at(interval, in_hall.index(window), len(in_hall))
            if break_at is not None:
                simulation.push(break_at, Event.BREAK_DUE, (window, interval))
    services = [s.id for s in site.services if any(s.id in w.spec.services for w in windows)]
    rates: dict[str, tuple[float, ...]] = {}
    for service in services:
        demand = SERVICE_DEMAND.get(service, DEFAULT_DEMAND)
        rates[service] = tuple(ticket_rate(demand, hour) for hour in range(24))
        for interval in _issuing_intervals(windows, service):
            for at in poisson_arrivals(interval, rates[service], tz, rng, stop_before=interval.end):
                simulation.push(at, Event.ARRIVAL, service)
    for at in extra_arrivals:
        issuing = [s for s in services if any(iv.contains(at) for iv in _issuing_intervals(windows, s))]
        if issuing:
            hour = at.astimezone(tz).hour
            weights = [rates[s][hour] or 0.1 for s in issuing]
            simulation.push(at, Event.ARRIVAL, rng.choices(issuing, weights)[0])
    simulation.run()
    return QueueDay(
        tickets=tuple(_frozen(site.id, held) for held in simulation.tickets),
        sessions=tuple(sorted(simulation.sessions, key=lambda s: (s.open_at, s.window))),
        presences=tuple(p for held in simulation.tickets for p in _presences(site.id, held)),
        turned_away=dict(simulation.turned_away),
    )


def _frozen(site_id: str, held: Held) -> Ticket:
    return Ticket(
        site=site_id,
        number=held.number,
        service=held.service,
        taken_at=held.taken_at,
        waiting_space=held.waiting.id,
        outcome=held.outcome,
        called_at=held.called_at,
        window=held.window,
        served_from=held.served_from,
        served_to=held.served_to,
        left_at=held.left_at,
        recalled_at=held.recalled_at,
        no_show_at=held.no_show_at,
    )


def _presences(site_id: str, held: Held) -> list[Presence]:
    ref = f"{held.number}"
    if held.outcome != "served":
        if held.left_at is None or held.left_at <= held.taken_at:
            return []
        return [Presence(held.taken_at, held.left_at, site_id, held.waiting.id, 1, "ticket", ref)]
    if held.served_from is None or held.served_to is None:
        return []
    if held.waiting.id == held.hall.id:
        return [Presence(held.taken_at, held.served_to, site_id, held.hall.id, 1, "ticket", ref)]
    return [
        Presence(held.taken_at, held.served_from, site_id, held.waiting.id, 1, "ticket", ref),
        Presence(held.served_from, held.served_to, site_id, held.hall.id, 1, "ticket", ref),
    ]
