"""Honest wait estimates as a range: when will a ticket with ``ahead`` tickets of its service before it be called?

The model (pure; ``now`` passed in):

- **Service times** are learned per service from the window occupancy of finished calls (called -> done or
  no-show, walking up included: that is how long the window is taken), the most recent ``RECENT_SAMPLES``, newer
  ones weighing more (``RECENCY_DECAY`` per older sample) so the estimate follows the day. Before there is data
  the default (6 min) stands in, as ``PRIOR_SAMPLES`` samples' worth.
- **The queue is dispatched** as the windows will do it: each waiting ticket, oldest first, goes to the open window
  that may call it and is free first (a window busy with a ticket is free after the rest of a mean service,
  at least half a mean: log-normal service times' mean residual life levels off near half the mean). This is list
  scheduling, which is what "a freeing window calls the oldest ticket it may serve" amounts to, so windows shared
  between services are accounted for exactly rather than by a share rule. A new ticket would be called when the
  first window that may serve it is free after all of that.
- **The spread** is that of a sum of service times: ``k`` windows working through ``t`` seconds of queue finish
  about ``t * k / m`` services whose times vary with coefficient ``cv``, so the time varies with standard
  deviation ``cv * sqrt(m * t / k)`` (widening with the square root of the queue), plus ``MEAN_UNCERTAINTY`` of
  ``t`` (the learned mean is an estimate), plus up to one gap ``m / k`` for the first call: which window frees
  first, and when, is nearly as uncertain as it is long (``FIRST_CALL_SPREAD``). The range is ``Z_LOW`` below
  and ``Z_HIGH`` above (breaks and windows closing make waits run long more often than short), plus
  ``WALK_UP_S`` for the one before to walk up.

A service's range is published as two lines over ``ahead`` (:class:`devices.queue_contract.ServiceView`): through
the estimates for the first waiting ticket and for a new one, exact where a ticket is issued.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

DEFAULT_SERVICE_S = 360.0  # before a service has data: 6 minutes a call
RECENT_SAMPLES = 30
RECENCY_DECAY = 0.93  # weight of a sample relative to the next newer one (half weight ~10 samples back)
PRIOR_SAMPLES = 3.0
DEFAULT_CV = 0.5  # coefficient of variation of a service time before there is data
CV_BOUNDS = (0.25, 1.5)
MEAN_UNCERTAINTY = 0.08  # relative error of a mean learned from ~30 recent samples, and of the dispatch model
FIRST_CALL_SPREAD = 1.0  # standard deviation of the first call's time, in gaps
# Calibrated on the scenario's days (tests/unit/test_queue_estimates_on_scenario.py): ~96 % of served tickets
# called within the range shown, ~90 % of those that waited longer than the staff's reaction, median range of those
# ~11 minutes. Z_LOW was 1.0 until a live demo showed windows freeing sooner than the model's floor of half a mean
# (early calls were most of its misses).
Z_LOW = 1.5
Z_HIGH = 1.3
WALK_UP_S = 60.0


@dataclass(frozen=True, slots=True)
class OpenWindow:
    """An open window; ``busy_with`` the service of the ticket it serves and ``busy_s`` seconds since its call."""

    id: str
    services: frozenset[str]
    busy_with: str | None = None
    busy_s: float = 0.0


@dataclass(frozen=True, slots=True)
class WaitingTicket:
    """A waiting ticket, in call order; ``window`` when it may be called only there; ``ready_in_s`` when it may
    not be called before then (an appointment that came early)."""

    service: str
    window: str | None = None
    ready_in_s: float = 0.0


@dataclass(frozen=True, slots=True)
class WaitRate:
    """Wait in seconds = base + per_ahead * ahead, low and high (the four rate fields of a ServiceView)."""

    lo_base_s: float
    hi_base_s: float
    lo_per_ahead_s: float
    hi_per_ahead_s: float

    def at(self, ahead: int) -> tuple[float, float]:
        low = self.lo_base_s + self.lo_per_ahead_s * ahead
        return low, max(low, self.hi_base_s + self.hi_per_ahead_s * ahead)


def record_service_time(service_times: dict[str, list[float]], service: str, seconds: float) -> None:
    """Remember one call's window occupancy (seconds), keeping the most recent ``RECENT_SAMPLES`` per service."""
    samples = service_times.setdefault(service, [])
    samples.append(max(0.0, seconds))
    del samples[:-RECENT_SAMPLES]


class WaitEstimator:
    """See the module doc. Holds only its settings: what it learns from lives in the queue's state."""

    def __init__(self, *, default_service_s: float = DEFAULT_SERVICE_S) -> None:
        self.default_service_s = default_service_s

    def mean_service_s(self, service_times: Mapping[str, Sequence[float]], service: str) -> float:
        prior = self.default_service_s
        total, weight = prior * PRIOR_SAMPLES, PRIOR_SAMPLES
        for age, seconds in enumerate(reversed(service_times.get(service, ()))):
            w = RECENCY_DECAY**age
            total += w * seconds
            weight += w
        return total / weight

    def variation(self, service_times: Mapping[str, Sequence[float]], means: Mapping[str, float]) -> float:
        """The coefficient of variation of service times, pooled over services (each relative to its mean)."""
        ratios = [x / means[s] for s, xs in service_times.items() if s in means and means[s] > 0 for x in xs]
        if len(ratios) < 2:
            return DEFAULT_CV
        mean = sum(ratios) / len(ratios)
        spread = math.sqrt(sum((r - mean) ** 2 for r in ratios) / (len(ratios) - 1)) / max(mean, 1e-9)
        blended = (spread * len(ratios) + DEFAULT_CV * PRIOR_SAMPLES) / (len(ratios) + PRIOR_SAMPLES)
        return min(max(blended, CV_BOUNDS[0]), CV_BOUNDS[1])

    def rates(
        self,
        *,
        services: Iterable[str],
        windows: Sequence[OpenWindow],
        waiting: Sequence[WaitingTicket],
        service_times: Mapping[str, Sequence[float]],
    ) -> dict[str, WaitRate | None]:
        """Each service's wait range; None for a service no open window handles (no honest estimate)."""
        wanted = list(services)
        means = {s: self.mean_service_s(service_times, s) for s in {*wanted, *(t.service for t in waiting)}}
        for window in windows:
            if window.busy_with is not None and window.busy_with not in means:
                means[window.busy_with] = self.mean_service_s(service_times, window.busy_with)
        cv = self.variation(service_times, means)
        free_at = {w.id: _free_in_s(w, means) for w in windows}
        called_in: dict[str, list[float]] = {}
        for ticket in waiting:
            may_call = [w for w in windows if _may_call(w, ticket)]
            if not may_call:
                continue  # waits for a window that is closed now: takes no open window's time
            window = min(may_call, key=lambda w: free_at[w.id])
            start = max(free_at[window.id], ticket.ready_in_s)
            called_in.setdefault(ticket.service, []).append(start)
            free_at[window.id] = start + means[ticket.service]
        queued = {t.service for t in waiting}
        return {s: self._rate(s, windows, free_at, called_in.get(s, []), queued, means, cv) for s in wanted}

    def _rate(
        self,
        service: str,
        windows: Sequence[OpenWindow],
        free_at: Mapping[str, float],
        called_in: Sequence[float],
        queued: set[str],
        means: Mapping[str, float],
        cv: float,
    ) -> WaitRate | None:
        serving = [w for w in windows if service in w.services]
        if not serving:
            return None
        new_in = min(free_at[w.id] for w in serving)
        # With nothing waiting, a window shares its time among the services that have a queue, and this one.
        windows_share = sum(1 / len({s for s in w.services if s == service or s in queued}) for w in serving)
        if called_in:
            first_in, ahead = called_in[0], len(called_in)
            each = max(0.0, (new_in - first_in) / ahead)
        else:
            first_in, ahead = new_in, 1
            each = means[service] / windows_share
        # Work of the windows it may go to passes at about mean / k per call (k windows), whatever the service.
        pooled = sum(means[s] for s in means) / len(means)
        gap = pooled / len(serving)
        lo0, hi0 = _range(first_in, gap, cv)
        lo1, hi1 = _range(first_in + each * ahead, gap, cv)
        return WaitRate(
            lo_base_s=lo0,
            hi_base_s=hi0,
            lo_per_ahead_s=max(0.0, (lo1 - lo0) / ahead),
            hi_per_ahead_s=max(0.0, (hi1 - hi0) / ahead),
        )


def _range(mid_s: float, gap_s: float, cv: float) -> tuple[float, float]:
    first = FIRST_CALL_SPREAD * min(mid_s, gap_s)
    spread = math.sqrt(cv * cv * gap_s * mid_s + (MEAN_UNCERTAINTY * mid_s) ** 2 + first * first)
    return max(0.0, mid_s - Z_LOW * spread), mid_s + Z_HIGH * spread + WALK_UP_S


def _may_call(window: OpenWindow, ticket: WaitingTicket) -> bool:
    if ticket.window is not None:
        return ticket.window == window.id
    return ticket.service in window.services


def _free_in_s(window: OpenWindow, means: Mapping[str, float]) -> float:
    """Seconds until the window is free: the rest of a mean service, at least half a mean (see the module doc)."""
    if window.busy_with is None:
        return 0.0
    mean = means[window.busy_with]
    return max(mean - window.busy_s, mean / 2)
