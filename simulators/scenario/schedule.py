"""From a plan to what each device of the site file sees, in time order: pure, so the runner only plays it.

- VS121 occupancy sensors: a feed of the count each sees. Sensors sharing a space (the council hall's front and
  back) split its people evenly, since the server sums them into the space's occupancy.
- People counters: every person coming into their space is an "in" crossing, every person leaving an "out"
  crossing, on channel 1 or 2 (two doors) as a seeded coin decides.
- Door controllers: a badge read for every card use in their space (staff opening their window, a booking's
  organiser arriving); card uses in a space without a controller badge at an entrance controller of the site.
- Ticket dispensers: a button press when a ticket is taken (a dispenser in the waiting space first).
- Window terminals: open and close with each staffed session, call_next when the plan calls, done at the end
  of a service, recall and no_show for a resident who had left.
- Faults: their beginning and end.

At one instant, keys finishing a resident come before close, open, presses and calls, in the order the queue
model took them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from devices.site import Belt, Device, Site
from simulators.scenario.drivers import (
    DISPENSER_MODEL,
    DOOR_CONTROLLER_MODEL,
    PEOPLE_COUNTER_MODEL,
    TERMINAL_MODEL,
    VS121_MODEL,
)
from simulators.scenario.faults import FaultSpec
from simulators.scenario.plan import ScenarioPlan
from simulators.scenario.queue_plan import Ticket
from simulators.scenario.timeline import HeadcountChange


@dataclass(frozen=True, slots=True)
class Cross:
    at: datetime
    device: str
    counter: str  # a people counter point: channel_1_in, channel_1_out, channel_2_in, channel_2_out
    times: int


@dataclass(frozen=True, slots=True)
class Badge:
    at: datetime
    device: str
    card: int


@dataclass(frozen=True, slots=True)
class Press:
    at: datetime
    device: str
    service: str


@dataclass(frozen=True, slots=True)
class Key:
    """A key staff press. ``ticket`` is sent with the key; the scenario's staff type none (the keys act on the
    ticket at the window, as the terminal's wire format allows). ``expects`` is the ticket the plan expects the key
    to act on, for logs and scoring only."""

    at: datetime
    device: str
    action: str
    ticket: str | None = None
    to_window: str | None = None
    expects: str | None = None


@dataclass(frozen=True, slots=True)
class FaultBegins:
    at: datetime
    fault: FaultSpec


@dataclass(frozen=True, slots=True)
class FaultEnds:
    at: datetime
    fault: FaultSpec


DeviceAction = Cross | Badge | Press | Key
Action = DeviceAction | FaultBegins | FaultEnds
_KEY_RANK = {"done": 1, "recall": 1, "no_show": 1, "close": 2, "open": 3, "call_next": 5}
_PRESS_RANK = 4


def _rank(action: Action) -> int:
    if isinstance(action, FaultBegins | FaultEnds):
        return 0
    if isinstance(action, Key):
        return _KEY_RANK.get(action.action, 6)
    return _PRESS_RANK if isinstance(action, Press) else 6


@dataclass(frozen=True, slots=True)
class SensorFeed:
    """The count one VS121 sees over the day: share ``index`` of ``of`` sensors in its space."""

    site: str
    device: Device
    changes: tuple[HeadcountChange, ...]


def share(people: int, index: int, of: int) -> int:
    """Sensor ``index``'s part of ``people`` split over ``of`` sensors; the parts add up to ``people``."""
    return people // of + (1 if index < people % of else 0)


def _devices(belt: Belt, plan: ScenarioPlan, model: str) -> Iterator[tuple[Site, Device]]:
    for site_id in plan.site_ids:
        site = belt.site(site_id)
        for device in site.devices:
            if device.model == model:
                yield site, device


def sensor_feeds(plan: ScenarioPlan, belt: Belt) -> tuple[SensorFeed, ...]:
    feeds = []
    for site, device in _devices(belt, plan, VS121_MODEL):
        peers = [d.id for d in site.devices if d.model == VS121_MODEL and d.space == device.space]
        index = peers.index(device.id)
        changes = tuple(
            (at, share(people, index, len(peers))) for at, people in plan.space(site.id, device.space).headcount
        )
        feeds.append(SensorFeed(site.id, device, changes))
    return tuple(feeds)


def device_actions(plan: ScenarioPlan, belt: Belt) -> tuple[Action, ...]:
    """Every action of the run, sorted by time and then by the order above."""
    actions: list[Action] = []
    actions += _crossings(plan, belt)
    actions += _badges(plan, belt)
    actions += _queue_actions(plan, belt)
    for fault in plan.faults:
        actions.append(FaultBegins(fault.start, fault))
        if fault.end is not None:
            actions.append(FaultEnds(fault.end, fault))
    return tuple(sorted(actions, key=lambda a: (a.at, _rank(a))))  # stable: the queue model's order stays


def _crossings(plan: ScenarioPlan, belt: Belt) -> list[Action]:
    actions: list[Action] = []
    for site, device in _devices(belt, plan, PEOPLE_COUNTER_MODEL):
        coin = random.Random(f"{plan.seed}:{device.id}:crossings")
        previous = 0
        for at, people in plan.space(site.id, device.space).headcount:
            delta, previous = people - previous, people
            direction = "in" if delta > 0 else "out"
            first = sum(1 for _ in range(abs(delta)) if coin.random() < 0.5)
            for channel, times in ((1, first), (2, abs(delta) - first)):
                if times:
                    actions.append(Cross(at, device.id, f"channel_{channel}_{direction}", times))
    return actions


def _badges(plan: ScenarioPlan, belt: Belt) -> list[Action]:
    doors: dict[tuple[str, str], list[str]] = {}
    entrances: dict[str, list[str]] = {}
    for site, device in _devices(belt, plan, DOOR_CONTROLLER_MODEL):
        doors.setdefault((site.id, device.space), []).append(device.id)
        if site.space(device.space).kind == "entrance":
            entrances.setdefault(site.id, []).append(device.id)
    actions: list[Action] = []
    for use in plan.card_uses:
        readers = doors.get((use.site, use.space)) or entrances.get(use.site) or []
        if readers:
            actions.append(Badge(use.at, readers[0], use.card))
    return actions


def _queue_actions(plan: ScenarioPlan, belt: Belt) -> list[Action]:
    terminals = {
        (site.id, str(getattr(device, "window", None))): device.id
        for site, device in _devices(belt, plan, TERMINAL_MODEL)
    }
    dispensers = list(_devices(belt, plan, DISPENSER_MODEL))
    actions: list[Action] = []
    for session in plan.sessions:
        terminal = terminals.get((session.site, session.window))
        if terminal is not None:
            actions.append(Key(session.open_at, terminal, "open"))
            actions.append(Key(session.close_at, terminal, "close"))
    for ticket in plan.tickets:
        dispenser = _dispenser_for(ticket, dispensers)
        if dispenser is not None:
            actions.append(Press(ticket.taken_at, dispenser, ticket.service))
        terminal = terminals.get((ticket.site, str(ticket.window)))
        if terminal is None or ticket.called_at is None:
            continue
        actions.append(Key(ticket.called_at, terminal, "call_next", expects=ticket.number))
        if ticket.served_to is not None:
            actions.append(Key(ticket.served_to, terminal, "done", expects=ticket.number))
        if ticket.recalled_at is not None and ticket.no_show_at is not None:
            actions.append(Key(ticket.recalled_at, terminal, "recall", expects=ticket.number))
            actions.append(Key(ticket.no_show_at, terminal, "no_show", expects=ticket.number))
    return actions


def _dispenser_for(ticket: Ticket, dispensers: list[tuple[Site, Device]]) -> str | None:
    """A dispenser of the site with a button for the service: one in the waiting space first."""
    offering = [
        device
        for site, device in dispensers
        if site.id == ticket.site and ticket.service in (getattr(device, "services", None) or ())
    ]
    near = [device for device in offering if device.space == ticket.waiting_space]
    return (near or offering)[0].id if offering else None
