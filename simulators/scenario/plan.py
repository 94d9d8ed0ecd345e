"""The plan of a scenario: a frozen timeline of one day at one or more sites, the same for the same inputs.

``build_plan(belt, site_ids=..., day=..., seed=..., scenario=..., begin=...)`` is pure: no clock, no I/O. Each
site and purpose draws from its own seeded stream (``"<seed>:<site>:<purpose>"``), so a fault scenario has the
same day as ``day`` around its fault (bar a crowd surge, whose residents join the queue). Nobody is anywhere
before ``begin`` (default: local midnight): a run starts with empty spaces and queues, as the system under test
does. Hours are read in the belt's local time; every instant is stored as aware UTC.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from devices.site import Belt, Site, SiteLookupError
from simulators.scenario.bookings import Booking, plan_bookings
from simulators.scenario.errors import ScenarioError
from simulators.scenario.faults import DEFAULT_FAULT_DELAY, FaultOptions, FaultSpec, plan_faults
from simulators.scenario.profiles import (
    BOOKING_PROFILES,
    DEFAULT_BOOKING,
    DEFAULT_DROP_IN,
    DROP_IN_PROFILES,
    NO_DROP_IN_KINDS,
)
from simulators.scenario.queue_plan import Ticket, WindowSession, plan_queue
from simulators.scenario.timeline import (
    CapacityLedger,
    HeadcountChange,
    OpenInterval,
    Presence,
    headcount_changes,
    local_instant,
    open_intervals,
    people_at,
)
from simulators.scenario.visits import plan_drop_ins

SCENARIOS: Mapping[str, str] = {
    "day": "a day at the Complex: arrivals by hour, bookings with no-shows, late arrivals and early ends, tickets "
    "and service windows with a staff break, the Friday afternoon legal session at the enterprise centre",
    "sensor-dropout": "the day, with an occupancy sensor silent for 30 simulated minutes",
    "dead-modbus": "the day, with one Modbus device offline from one hour in to the end",
    "uplink-cut": "the day, with the edge's uplink to the central broker cut for 10 simulated minutes (needs a relay)",
    "crowd-surge": "the day, with a service hall's capacity of people arriving within 10 minutes",
}
SURGE_TICKET_SHARE = 0.5  # of the surge's people take a ticket; the others crowd the hall
SURGE_STAY_MIN = (15, 40)
SURGE_SETTLE = timedelta(minutes=15)  # a surge asked for while the hall is closed comes this long after it opens
DEFAULT_FAULT_LOCAL_MINUTE = 10 * 60  # faults start no earlier than 10:00 local unless told: the sites are busy
STAFF_CARD_BASE = 10_000  # staff cards: base + 100 * site position in the belt + window position in the site


@dataclass(frozen=True, slots=True)
class SpaceTruth:
    """A space's true headcount over the day and how many people found it full."""

    site: str
    space: str
    kind: str
    capacity: int
    bookable: bool
    headcount: tuple[HeadcountChange, ...]
    turned_away: int


@dataclass(frozen=True, slots=True)
class CardUse:
    """Someone with a card came into ``space`` at ``at``: staff opening a window, an organiser opening a booking."""

    at: datetime
    site: str
    space: str
    card: int
    holder: str  # "staff:<window>" or "organiser:<booking id>"


@dataclass(frozen=True, slots=True)
class ScenarioPlan:
    scenario: str
    seed: int
    day: date
    timezone: str
    begin: datetime
    site_ids: tuple[str, ...]
    spaces: tuple[SpaceTruth, ...]
    presences: tuple[Presence, ...]
    bookings: tuple[Booking, ...]
    tickets: tuple[Ticket, ...]
    sessions: tuple[WindowSession, ...]
    card_uses: tuple[CardUse, ...]
    faults: tuple[FaultSpec, ...]

    def space(self, site_id: str, space_id: str) -> SpaceTruth:
        for truth in self.spaces:
            if truth.site == site_id and truth.space == space_id:
                return truth
        raise KeyError(f"no space {site_id}/{space_id} in the plan")

    def people_at(self, site_id: str, space_id: str, at: datetime) -> int:
        return people_at(self.space(site_id, space_id).headcount, at)


def build_plan(
    belt: Belt,
    *,
    site_ids: Sequence[str],
    day: date,
    seed: int,
    scenario: str = "day",
    begin: datetime | None = None,
    faults: FaultOptions | None = None,
) -> ScenarioPlan:
    """Plan ``scenario`` for the sites on the local ``day``; ScenarioError names what cannot be planned."""
    if scenario not in SCENARIOS:
        raise ScenarioError(f"no scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    tz = belt.tz
    midnight = local_instant(day, 0, tz)
    begin = midnight if begin is None else begin
    if not midnight <= begin < local_instant(day, 24 * 60, tz):
        raise ScenarioError(f"begin {begin.isoformat()} is not on {day.isoformat()} in {belt.timezone}")
    try:
        sites = [belt.site(site_id) for site_id in (site_ids or [s.id for s in belt.sites])]
    except SiteLookupError as exc:
        raise ScenarioError(str(exc)) from None
    options = faults or FaultOptions()
    fault_start = options.start or max(begin + DEFAULT_FAULT_DELAY, local_instant(day, DEFAULT_FAULT_LOCAL_MINUTE, tz))
    planned_faults = plan_faults(
        scenario, sites, start=fault_start, options=options, rng=random.Random(f"{seed}:faults")
    )
    surge = next((f for f in planned_faults if f.kind == "crowd-surge"), None)
    if surge is not None:
        surge = _surge_in_hours(belt, surge, day, begin)
        planned_faults = (surge,)
    parts = [_plan_site(belt, site, day=day, begin=begin, seed=seed, surge=surge) for site in sites]
    return ScenarioPlan(
        scenario=scenario,
        seed=seed,
        day=day,
        timezone=belt.timezone,
        begin=begin,
        site_ids=tuple(site.id for site in sites),
        spaces=tuple(truth for part in parts for truth in part.spaces),
        presences=tuple(sorted(p for part in parts for p in part.presences)),
        bookings=tuple(sorted((b for part in parts for b in part.bookings), key=lambda b: (b.start, b.id))),
        tickets=tuple(sorted((t for part in parts for t in part.tickets), key=lambda t: (t.taken_at, t.site))),
        sessions=tuple(sorted((s for part in parts for s in part.sessions), key=lambda s: (s.open_at, s.window))),
        card_uses=tuple(sorted((c for part in parts for c in part.card_uses), key=lambda c: (c.at, c.card))),
        faults=planned_faults,
    )


@dataclass(frozen=True, slots=True)
class _SitePlan:
    spaces: tuple[SpaceTruth, ...]
    presences: tuple[Presence, ...]
    bookings: tuple[Booking, ...]
    tickets: tuple[Ticket, ...]
    sessions: tuple[WindowSession, ...]
    card_uses: tuple[CardUse, ...]


def _plan_site(belt: Belt, site: Site, *, day: date, begin: datetime, seed: int, surge: FaultSpec | None) -> _SitePlan:
    tz = belt.tz

    def stream(purpose: str) -> random.Random:
        return random.Random(f"{seed}:{site.id}:{purpose}")

    intervals = {space.id: open_intervals(space.hours, day, tz, begin=begin) for space in site.spaces}
    ledgers = {space.id: CapacityLedger(space.capacity, local_instant(day, 0, tz)) for space in site.spaces}
    presences: list[Presence] = []
    turned_away: dict[str, int] = {space.id: 0 for space in site.spaces}
    bookings: list[Booking] = []
    for space in site.spaces:
        if space.bookable:
            profile = BOOKING_PROFILES.get(space.kind, DEFAULT_BOOKING)
            booked, attending = plan_bookings(
                site_id=site.id,
                space=space,
                profile=profile,
                intervals=intervals[space.id],
                tz=tz,
                rng=stream(f"bookings:{space.id}"),
            )
            bookings += booked
            presences += attending
    crowd: list[Presence] = []
    surge_tickets: list[datetime] = []
    if surge is not None and surge.site == site.id and surge.space is not None:
        crowd, surge_tickets = _surge_people(surge, intervals[surge.space], stream("surge"))
    site_position = next(i for i, s in enumerate(belt.sites) if s.id == site.id)
    cards = {w.id: STAFF_CARD_BASE + 100 * site_position + i for i, w in enumerate(site.windows)}
    queue = plan_queue(
        site, day=day, tz=tz, begin=begin, rng=stream("queue"), staff_cards=cards, extra_arrivals=surge_tickets
    )
    for presence in (*queue.presences, *crowd):
        ledgers[presence.space].add(presence.enter, presence.leave, presence.people)
    presences += (*queue.presences, *crowd)
    for space_id, people in queue.turned_away.items():
        turned_away[space_id] += people
    for space in site.spaces:
        if space.bookable or space.kind in NO_DROP_IN_KINDS:
            continue
        visits = plan_drop_ins(
            site_id=site.id,
            space=space,
            profile=DROP_IN_PROFILES.get(space.kind, DEFAULT_DROP_IN),
            intervals=intervals[space.id],
            tz=tz,
            rng=stream(f"drop-ins:{space.id}"),
            ledger=ledgers[space.id],
        )
        presences += visits.presences
        turned_away[space.id] += visits.turned_away
    spaces = tuple(
        SpaceTruth(
            site=site.id,
            space=space.id,
            kind=space.kind,
            capacity=space.capacity,
            bookable=space.bookable,
            headcount=headcount_changes(p for p in presences if p.space == space.id),
            turned_away=turned_away[space.id],
        )
        for space in site.spaces
    )
    card_uses = [
        CardUse(s.open_at, site.id, site.window(s.window).space, s.staff_card, f"staff:{s.window}")
        for s in queue.sessions
        if not s.after_break
    ] + [
        CardUse(b.arrived_at, site.id, b.space, b.organiser_card, f"organiser:{b.id}")
        for b in bookings
        if b.arrived_at is not None
    ]
    return _SitePlan(spaces, tuple(presences), tuple(bookings), queue.tickets, queue.sessions, tuple(card_uses))


def _surge_in_hours(belt: Belt, surge: FaultSpec, day: date, begin: datetime) -> FaultSpec:
    """The surge moved into the hall's opening hours when asked for while it is closed."""
    if surge.site is None or surge.space is None or surge.end is None:
        return surge
    hall = belt.site(surge.site).space(surge.space)
    length = surge.end - surge.start
    for interval in open_intervals(hall.hours, day, belt.tz, begin=begin):
        if interval.end <= surge.start:
            continue
        start = surge.start if interval.contains(surge.start) else interval.start + SURGE_SETTLE
        if interval.start <= start and start + length <= interval.end:
            return replace(surge, start=start, end=start + length)
    raise ScenarioError(
        f"crowd-surge: hall {surge.site}/{surge.space} is not open for {length} from {surge.start.isoformat()} on"
    )


def _surge_people(
    surge: FaultSpec, hall_intervals: tuple[OpenInterval, ...], rng: random.Random
) -> tuple[list[Presence], list[datetime]]:
    """The crowd in the hall, and the instants surge residents take a ticket."""
    crowd: list[Presence] = []
    tickets: list[datetime] = []
    interval = next((iv for iv in hall_intervals if iv.contains(surge.start)), None)
    if surge.end is None or surge.site is None or surge.space is None or interval is None:
        return crowd, tickets
    span_s = (surge.end - surge.start).total_seconds()
    for _ in range(surge.people or 0):
        at = surge.start + timedelta(seconds=round(rng.uniform(0, span_s)))
        if rng.random() < SURGE_TICKET_SHARE:
            tickets.append(at)
            continue
        leave = min(at + timedelta(seconds=round(rng.uniform(*SURGE_STAY_MIN) * 60)), interval.end)
        if leave > at:
            crowd.append(Presence(at, leave, surge.site, surge.space, 1, "surge"))
    return crowd, sorted(tickets)
