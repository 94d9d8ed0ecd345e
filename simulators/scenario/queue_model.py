"""Tickets and service windows of one site over a day: a discrete-event model of who is called where and when.

The model, which the system's queue is expected to reproduce from the same button presses and keys:

- Residents take a ticket for a service while a window serving it is staffed (Poisson arrivals by local hour,
  :mod:`.profiles`); dispensers stop issuing 15 minutes before those windows close. Numbers run per service
  through the day: prefix + three digits (A001, A002, ...). A resident who finds the waiting space full takes no
  ticket (turned away).
- Ticket holders wait in the waiting area on the floor of the windows' hall (the hall itself when there is none).
  Each has an exponential patience; one who is not called by then leaves, unseen by the system.
- Staff open each window at the start of its hours (within 2 minutes), take one 15-minute break in a shift of 3
  hours or more (finishing the resident at the window first; breaks staggered 20 minutes apart across windows),
  and close it at the end of its hours. No new call in the last 5 minutes; a service still running at closing is
  cut short at closing.
- An idle open window calls the oldest waiting ticket of the services it handles (FIFO per service, oldest first
  across a window's services). A ticket taken while a window is idle is called after the staff's reaction time
  (``CALL_REACTION``, 20 s): nobody can call a ticket in the very instant it is printed, and a system that got the
  key before the ticket would rightly find nothing to call. A present resident walks over (20-90 s) and is served
  for a log-normal time. A resident who left is called anyway (the system cannot know), recalled after 60 s and
  marked no-show after 120 s.
- When no window will serve a waiting ticket's service again before its hall closes, its holder goes home
  (``not_called``).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum

from devices.site import ServiceWindow, Site, Space
from simulators.scenario.profiles import DEFAULT_DEMAND, SERVICE_DEMAND, SERVICE_TIME_SIGMA
from simulators.scenario.timeline import OpenInterval, interval_at

LAST_CALL_BEFORE_CLOSING = timedelta(minutes=5)
RECALL_AFTER = timedelta(seconds=60)
NO_SHOW_AFTER = timedelta(seconds=120)
WALK_S = (20, 90)
BREAK_LENGTH = timedelta(minutes=15)
MIN_SERVICE_S = 60
CALL_REACTION = timedelta(seconds=20)
ONE_SECOND = timedelta(seconds=1)


# Event order at one instant: a window frees before it closes or breaks; windows open before tickets are taken.
class Event(IntEnum):
    FREE = 0
    CLOSE = 1
    BREAK_DUE = 2
    GIVE_UP = 3
    OPEN = 4
    BREAK_END = 5
    ARRIVAL = 6
    CALL = 7  # an idle window calls, its reaction time after a ticket was taken


@dataclass(frozen=True, slots=True)
class Ticket:
    """One resident's ticket. Outcomes: ``served`` (called_at, window, served_from, served_to); ``left`` (gave up
    at left_at; if a window called it after that: called_at, window, recalled_at, no_show_at); ``not_called``
    (sent home at left_at because no window would serve it before closing)."""

    site: str
    number: str
    service: str
    taken_at: datetime
    waiting_space: str
    outcome: str
    called_at: datetime | None = None
    window: str | None = None
    served_from: datetime | None = None
    served_to: datetime | None = None
    left_at: datetime | None = None
    recalled_at: datetime | None = None
    no_show_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WindowSession:
    """A window staffed from ``open_at`` to ``close_at``; ``after_break`` when it reopens after the staff break."""

    site: str
    window: str
    open_at: datetime
    close_at: datetime
    staff_card: int
    after_break: bool


def waiting_space_for(site: Site, hall: Space) -> Space:
    """Where ticket holders of a hall's windows wait: a waiting area on its floor open whenever it is, else the hall."""
    for space in site.spaces:
        if space.kind == "waiting-area" and space.floor == hall.floor and space.hours.covers(hall.hours):
            return space
    return hall


@dataclass(slots=True)
class Held:
    number: str
    service: str
    taken_at: datetime
    waiting: Space
    hall: Space
    outcome: str = "not_called"
    called_at: datetime | None = None
    window: str | None = None
    served_from: datetime | None = None
    served_to: datetime | None = None
    left_at: datetime | None = None
    recalled_at: datetime | None = None
    no_show_at: datetime | None = None


@dataclass(slots=True)
class StaffedWindow:
    spec: ServiceWindow
    order: int
    card: int
    intervals: tuple[OpenInterval, ...]
    interval: OpenInterval | None = None
    open: bool = False
    busy: bool = False
    on_break: bool = False
    break_pending: bool = False
    idle_since: datetime | None = None
    session_start: datetime | None = None
    session_after_break: bool = False


# An event's payload: the service of an arrival, the ticket whose holder may give up, or a window and its shift.
_Payload = str | Held | tuple[StaffedWindow, OpenInterval]


@dataclass(slots=True)
class QueueSimulation:
    site: Site
    rng: random.Random
    windows: list[StaffedWindow]
    events: list[tuple[datetime, Event, int, _Payload]] = field(default_factory=list)
    waiting: list[Held] = field(default_factory=list)  # not yet called, oldest first
    tickets: list[Held] = field(default_factory=list)
    sessions: list[WindowSession] = field(default_factory=list)
    present: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    turned_away: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    numbers: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, at: datetime, kind: Event, payload: _Payload) -> None:
        heapq.heappush(self.events, (at, kind, next(self._seq), payload))

    def run(self) -> None:
        while self.events:
            at, kind, _seq, payload = heapq.heappop(self.events)
            if isinstance(payload, str):
                self.arrive(payload, at)
            elif isinstance(payload, Held):
                self.give_up(payload, at)
            else:
                window, interval = payload
                self.window_event(kind, window, interval, at)

    # --- residents -------------------------------------------------------------------------------------------

    def hall_of(self, service: str) -> Space:
        window = next(w for w in self.windows if service in w.spec.services)
        return self.site.space(window.spec.space)

    def capacity_for_waiting(self, waiting: Space, hall: Space) -> int:
        if waiting.id != hall.id:
            return waiting.capacity
        return max(0, hall.capacity - sum(1 for w in self.windows if w.spec.space == hall.id))

    def arrive(self, service: str, at: datetime) -> None:
        hall = self.hall_of(service)
        waiting = waiting_space_for(self.site, hall)
        if self.present[waiting.id] + 1 > self.capacity_for_waiting(waiting, hall):
            self.turned_away[waiting.id] += 1
            return
        self.numbers[service] += 1
        number = f"{self.site.service(service).prefix}{self.numbers[service]:03d}"
        held = Held(number, service, at, waiting, hall)
        self.tickets.append(held)
        self.waiting.append(held)
        self.present[waiting.id] += 1
        patience_s = self.rng.expovariate(1 / (SERVICE_DEMAND.get(service, DEFAULT_DEMAND).patience_min * 60))
        self.push(at + timedelta(seconds=max(60, round(patience_s))), Event.GIVE_UP, held)
        for window in sorted(self.windows, key=lambda w: (w.idle_since or at, w.order)):
            if service in window.spec.services and window.open and not window.busy and window.interval is not None:
                self.push(at + CALL_REACTION, Event.CALL, (window, window.interval))

    def give_up(self, held: Held, at: datetime) -> None:
        if held.called_at is None and held.left_at is None:  # still waiting (neither called nor sent home)
            held.left_at = at
            held.outcome = "left"
            self.present[held.waiting.id] -= 1

    def send_home(self, hall: Space, at: datetime) -> None:
        """Residents whose service no window of ``hall`` will serve again before the hall closes go home."""
        hall_interval = interval_at(self.hall_intervals(hall), at - ONE_SECOND)
        closes = hall_interval.end if hall_interval is not None else at
        for held in [h for h in self.waiting if h.hall.id == hall.id]:
            served_later = any(
                held.service in w.spec.services and iv.end > at and iv.start < closes
                for w in self.windows
                for iv in w.intervals
            )
            if served_later:
                continue
            self.waiting.remove(held)
            if held.left_at is None:
                held.left_at = at
                self.present[held.waiting.id] -= 1

    def hall_intervals(self, hall: Space) -> tuple[OpenInterval, ...]:
        return tuple(iv for w in self.windows if w.spec.space == hall.id for iv in w.intervals)

    # --- windows ---------------------------------------------------------------------------------------------

    def window_event(self, kind: Event, window: StaffedWindow, interval: OpenInterval, at: datetime) -> None:
        if kind == Event.OPEN:
            window.interval = interval
            self.start_session(window, at, after_break=False)
        elif kind == Event.CLOSE:
            if window.open:
                self.end_session(window, at)
            window.interval = None
            window.break_pending = False
            self.send_home(self.site.space(window.spec.space), at)
        elif kind == Event.BREAK_DUE:
            if window.open and window.busy:
                window.break_pending = True
            elif window.open:
                self.start_break(window, at)
        elif kind == Event.BREAK_END:
            window.on_break = False
            if window.interval is not None and at < window.interval.end - LAST_CALL_BEFORE_CLOSING:
                self.start_session(window, at, after_break=True)
        elif kind == Event.CALL:
            self.try_call(window, at)
        elif kind == Event.FREE:
            window.busy = False
            if window.break_pending:
                window.break_pending = False
                self.start_break(window, at)
            else:
                window.idle_since = at
                self.try_call(window, at)

    def start_session(self, window: StaffedWindow, at: datetime, *, after_break: bool) -> None:
        window.open = True
        window.session_start = at
        window.session_after_break = after_break
        window.idle_since = at
        self.try_call(window, at)

    def end_session(self, window: StaffedWindow, at: datetime) -> None:
        opened = window.session_start or at
        self.sessions.append(
            WindowSession(self.site.id, window.spec.id, opened, at, window.card, window.session_after_break)
        )
        window.open = False

    def start_break(self, window: StaffedWindow, at: datetime) -> None:
        if window.interval is None:
            return
        self.end_session(window, at)
        window.on_break = True
        self.push(at + BREAK_LENGTH, Event.BREAK_END, (window, window.interval))

    def try_call(self, window: StaffedWindow, at: datetime) -> None:
        if not window.open or window.busy or window.interval is None:
            return
        if at > window.interval.end - LAST_CALL_BEFORE_CLOSING:
            return
        held = next((h for h in self.waiting if h.service in window.spec.services), None)
        if held is None:
            return
        self.waiting.remove(held)
        held.called_at = at
        held.window = window.spec.id
        window.busy = True
        if held.left_at is None:
            self.present[held.waiting.id] -= 1
            held.outcome = "served"
            held.served_from = at + timedelta(seconds=self.rng.randint(*WALK_S))
            demand = SERVICE_DEMAND.get(held.service, DEFAULT_DEMAND)
            mu = math.log(demand.service_min * 60) - SERVICE_TIME_SIGMA**2 / 2  # so the mean is service_min
            service_s = max(MIN_SERVICE_S, round(self.rng.lognormvariate(mu, SERVICE_TIME_SIGMA)))
            held.served_to = min(held.served_from + timedelta(seconds=service_s), window.interval.end)
            self.push(held.served_to, Event.FREE, (window, window.interval))
        else:
            held.recalled_at = at + RECALL_AFTER
            held.no_show_at = at + NO_SHOW_AFTER
            self.push(held.no_show_at, Event.FREE, (window, window.interval))
