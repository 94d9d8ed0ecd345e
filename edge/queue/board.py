"""The board after an event: every window of the site, and every service's queue with its wait range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from devices.queue_contract import ServiceView, WindowView
from devices.site import Site
from edge.queue.estimate import OpenWindow, WaitEstimator, WaitingTicket
from edge.queue.state import QueueState, QueueTicket


def board_views(
    site: Site, state: QueueState, waiting: Sequence[QueueTicket], now: datetime, estimator: WaitEstimator
) -> tuple[list[WindowView], list[ServiceView]]:
    """``waiting``: the waiting tickets in call order."""
    windows = [state.windows[w.id].view(w.services) for w in site.windows]
    open_windows = [w for w in site.windows if state.windows[w.id].open]
    loads = [_load(state, w.id, frozenset(w.services), now) for w in open_windows]
    queue = [WaitingTicket(t.service, t.window, max(0.0, (t.order_at - now).total_seconds())) for t in waiting]
    rates = estimator.rates(
        services=[s.id for s in site.services], windows=loads, waiting=queue, service_times=state.service_times
    )
    services = []
    for service in site.services:
        rate = rates[service.id]
        services.append(
            ServiceView(
                id=service.id,
                prefix=service.prefix,
                waiting=sum(1 for t in waiting if t.service == service.id),
                open_windows=sum(1 for w in open_windows if service.id in w.services),
                last_called=state.last_called.get(service.id),
                last_issued=state.last_issued.get(service.id),
                wait_lo_base_s=None if rate is None else round(rate.lo_base_s, 1),
                wait_hi_base_s=None if rate is None else round(rate.hi_base_s, 1),
                wait_lo_per_ahead_s=None if rate is None else round(rate.lo_per_ahead_s, 1),
                wait_hi_per_ahead_s=None if rate is None else round(rate.hi_per_ahead_s, 1),
            )
        )
    return windows, services


def _load(state: QueueState, window: str, services: frozenset[str], now: datetime) -> OpenWindow:
    serving = state.windows[window].serving
    ticket = None if serving is None else state.tickets.get(serving)
    if ticket is None or ticket.last_called_at is None:
        return OpenWindow(window, services)
    return OpenWindow(window, services, ticket.service, max(0.0, (now - ticket.last_called_at).total_seconds()))
