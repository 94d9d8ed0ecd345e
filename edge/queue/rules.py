"""The queue's refusals and the checks made before anything changes, so a refused request changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from edge.queue.state import QueueTicket

if TYPE_CHECKING:
    from edge.queue.engine import SiteQueue

WINDOW_ACTIONS = frozenset({"open", "close", "call_next", "recall", "no_show", "transfer", "done"})


class QueueRefusal(Exception):
    """A request the queue cannot carry out; ``code`` is one of: unknown_service, unknown_window, window_closed,
    service_not_at_window, no_ticket (nothing waiting / no such ticket), not_at_window (ticket not called there),
    numbers_exhausted (9,999 a prefix and day), bad_request."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def local_day(now: datetime, tz: tzinfo) -> str:
    """The site-local date of ``now`` (ISO), which ticket numbers belong to."""
    return now.astimezone(tz).date().isoformat()


def order_at_for(
    now: datetime, priority: bool, appointment_at: datetime | None, head_start: timedelta, grace: timedelta
) -> datetime:
    """A new ticket's place in time: the appointment time when it came no later than ``grace`` after it, else
    now; ``head_start`` earlier for priority."""
    base = appointment_at if appointment_at is not None and now <= appointment_at + grace else now
    return base - head_start if priority else base


def check_window_action(
    queue: SiteQueue,
    *,
    window: str,
    action: str,
    now: datetime,
    rolls: bool,
    ticket: str | None,
    to_window: str | None,
    to_service: str | None,
) -> QueueTicket | None:
    """Refuse what cannot be done; else the ticket the action is about (None for open, close and a plain
    call_next). ``rolls``: a new local day starts with this request, so yesterday's tickets are gone."""
    site, state = queue.site, queue.state
    if window not in state.windows:
        raise QueueRefusal("unknown_window", f"site {site.id} has no window {window!r}")
    if action not in WINDOW_ACTIONS:
        raise QueueRefusal("bad_request", f"no window action {action!r}")
    place = state.windows[window]
    if action == "open":
        return None
    if not place.open:
        raise QueueRefusal("window_closed", f"{window} is closed")
    if action == "close":
        return None
    serving = None if rolls or place.serving is None else state.tickets[place.serving]
    named = None if rolls or ticket is None else state.tickets.get(ticket)
    if ticket is not None and named is None:
        raise QueueRefusal("no_ticket", f"no ticket {ticket} today")
    if action == "call_next":
        if named is not None:
            return _callable_here(queue, named, window)
        if serving is None and (rolls or queue.next_for(window, now) is None):
            raise QueueRefusal("no_ticket", f"nothing waiting for {window}")
        return None
    if named is not None and named is not serving:
        raise QueueRefusal("not_at_window", f"{named.number} is not being served at {window}")
    if serving is None:
        raise QueueRefusal("no_ticket", f"nobody is being served at {window}")
    if action == "transfer":
        _check_transfer(queue, to_window, to_service)
    return serving


def _callable_here(queue: SiteQueue, ticket: QueueTicket, window: str) -> QueueTicket:
    if ticket.status != "waiting":
        raise QueueRefusal("no_ticket", f"{ticket.number} is {ticket.status}, not waiting")
    if ticket.window is not None and ticket.window != window:
        raise QueueRefusal("service_not_at_window", f"{ticket.number} was sent to {ticket.window}")
    if ticket.window is None and ticket.service not in queue.site.window(window).services:
        raise QueueRefusal("service_not_at_window", f"{window} does not serve {ticket.service}")
    return ticket


def _check_transfer(queue: SiteQueue, to_window: str | None, to_service: str | None) -> None:
    if (to_window is None) == (to_service is None):
        raise QueueRefusal("bad_request", "a transfer names exactly one of to_window and to_service")
    if to_window is not None and to_window not in queue.state.windows:
        raise QueueRefusal("unknown_window", f"site {queue.site.id} has no window {to_window!r}")
    if to_service is not None and to_service not in {s.id for s in queue.site.services}:
        raise QueueRefusal("unknown_service", f"site {queue.site.id} has no service {to_service!r}")
