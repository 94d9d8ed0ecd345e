"""The faults of the fault scenarios: what breaks, where, from when to when (simulated time).

- ``sensor-dropout``: occupancy sensors (VS121) go silent for ``dropout`` (default 30 minutes), then report again;
- ``dead-modbus``: one Modbus device stops answering (listener and connections closed) from ``start`` to the end;
- ``uplink-cut``: the uplink between a site's edge agent and the central broker is cut for ``uplink_cut``
  (default 10 SIMULATED minutes: at --speed 60 that is 10 real seconds), through a relay the runner is given;
- ``crowd-surge``: ``surge_people`` (default: the hall's capacity) arrive in a service hall within ``surge_over``
  (default 10 minutes); half take a ticket, half crowd the hall for 15-40 minutes. A surge may take the hall over
  its capacity: that is what a surge is.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from devices.site import Site, Space
from simulators.scenario.errors import ScenarioError

VS121_MODEL = "milesight-vs121"  # read by name: the runner drives whichever models the site file has
FAULT_KINDS = ("sensor-dropout", "dead-modbus", "uplink-cut", "crowd-surge")
DEFAULT_FAULT_DELAY = timedelta(hours=1)  # after the run begins, when no start is given


@dataclass(frozen=True, slots=True)
class FaultOptions:
    """When faults start and how long they last; ``start`` None means one hour after the plan begins, and not
    before 10:00 local time."""

    start: datetime | None = None
    dropout: timedelta = timedelta(minutes=30)
    dropout_sensors: int = 1
    uplink_cut: timedelta = timedelta(minutes=10)
    surge_over: timedelta = timedelta(minutes=10)
    surge_people: int | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.start.utcoffset() is None:
            raise ValueError("fault start must be timezone-aware")
        for name in ("dropout", "uplink_cut", "surge_over"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.dropout_sensors < 1 or (self.surge_people is not None and self.surge_people < 1):
            raise ValueError("dropout_sensors and surge_people must be at least 1")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault: ``end`` None means until the run ends. ``site`` None for an uplink cut: every edge agent whose
    central broker URL goes through the relay loses its uplink."""

    kind: str
    start: datetime
    end: datetime | None
    site: str | None = None
    device: str | None = None
    space: str | None = None
    people: int | None = None


def plan_faults(
    scenario: str, sites: Sequence[Site], *, start: datetime, options: FaultOptions, rng: random.Random
) -> tuple[FaultSpec, ...]:
    """The faults of a fault scenario (none for ``day``); ScenarioError when the sites have nothing to break."""
    if scenario == "sensor-dropout":
        sensors = [(site, device) for site in sites for device in site.devices if device.model == VS121_MODEL]
        if not sensors:
            raise ScenarioError(f"sensor-dropout: no {VS121_MODEL} sensor in sites {_names(sites)}")
        chosen = rng.sample(sensors, min(options.dropout_sensors, len(sensors)))
        return tuple(
            FaultSpec(scenario, start, start + options.dropout, site=site.id, device=device.id, space=device.space)
            for site, device in sorted(chosen, key=lambda pair: pair[1].id)
        )
    if scenario == "dead-modbus":
        modbus = [(site, device) for site in sites for device in site.devices if device.transport == "modbus"]
        if not modbus:
            raise ScenarioError(f"dead-modbus: no Modbus device in sites {_names(sites)}")
        site, device = rng.choice(modbus)
        return (FaultSpec(scenario, start, None, site=site.id, device=device.id, space=device.space),)
    if scenario == "uplink-cut":
        return (FaultSpec(scenario, start, start + options.uplink_cut),)
    if scenario == "crowd-surge":
        site, hall = surge_hall(sites, rng)
        people = options.surge_people or hall.capacity
        return (FaultSpec(scenario, start, start + options.surge_over, site=site.id, space=hall.id, people=people),)
    return ()


def surge_hall(sites: Sequence[Site], rng: random.Random) -> tuple[Site, Space]:
    """A service hall with windows (any service hall when none has windows) of the sites."""
    halls = [
        (site, space)
        for site in sites
        for space in site.spaces
        if space.kind == "service-hall" and any(w.space == space.id for w in site.windows)
    ] or [(site, space) for site in sites for space in site.spaces if space.kind == "service-hall"]
    if not halls:
        raise ScenarioError(f"crowd-surge: no service hall in sites {_names(sites)}")
    return rng.choice(halls)


def _names(sites: Sequence[Site]) -> str:
    return ", ".join(site.id for site in sites)
