"""A site's ticket queue: the one issuer and caller of its tickets. Pure: no I/O, ``now`` is passed in.

Rules (see also :mod:`devices.queue_contract`):

- Numbers run per prefix per site-local day, 1, 2, ... without gaps and never reused (the counters are in the
  state, which outlives restarts). On a later local day numbering starts at 1 again, and the earlier day's waiting
  and called tickets expire at the first tick, take or action.
- Tickets wait in ``order_at`` order, then issue order. ``order_at`` is the issue time; for elderly priority
  ``PRIORITY_HEAD_START`` earlier, so a priority ticket passes only tickets issued within that span before it
  (nobody waits without bound); for an appointment that came no later than ``APPOINTMENT_GRACE`` after its time,
  the appointment time (it is not called before then); a later arrival is a walk-in. Priority applies on top.
- A window calls the first waiting ticket of its services, or one transferred to it. A ticket is called by
  ``call_next`` once; ``recall`` calls it again; a transfer makes it wait again in its place in time.
- When the last window of a service closes and none will serve it again before its hall closes
  (:mod:`edge.queue.closing`), the tickets still waiting for it expire.
- A request that cannot be carried out raises :class:`QueueRefusal` and changes nothing.

Every change yields one ``queue.v1`` event per thing that happened, each with the whole board after it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from devices.queue_contract import (
    MAX_NUMBER,
    QueueEventKind,
    ServiceView,
    TicketSource,
    TicketView,
    WindowActionName,
    WindowView,
    ticket_number,
    wait_range,
)
from devices.site import Site
from edge.queue.board import board_views
from edge.queue.changes import Changes, QueueOutcome
from edge.queue.closing import served_again_today
from edge.queue.estimate import WaitEstimator, record_service_time
from edge.queue.rules import QueueRefusal, check_window_action, local_day, order_at_for
from edge.queue.state import OPEN_STATUSES, QueueState, QueueTicket, WindowState

__all__ = ["APPOINTMENT_GRACE", "PRIORITY_HEAD_START", "QueueOutcome", "QueueRefusal", "SiteQueue"]

PRIORITY_HEAD_START = timedelta(minutes=10)
APPOINTMENT_GRACE = timedelta(minutes=10)


class SiteQueue:
    """See the module doc. ``tz`` is the site's zone (days and hours); ``state`` what a store loaded."""

    def __init__(
        self, site: Site, *, tz: tzinfo, state: QueueState | None = None, estimator: WaitEstimator | None = None
    ) -> None:
        self.site = site
        self._tz = tz
        self._state = state if state is not None else QueueState()
        self._estimator = estimator if estimator is not None else WaitEstimator()
        known = {w.id for w in site.windows}
        for window_id in [w for w in self._state.windows if w not in known]:
            del self._state.windows[window_id]  # a window removed from the site file
        for window in site.windows:
            self._state.windows.setdefault(window.id, WindowState(window.id))

    @property
    def state(self) -> QueueState:
        return self._state

    # --- requests ------------------------------------------------------------------------------------------------

    def take(
        self,
        *,
        service: str,
        now: datetime,
        source: TicketSource,
        priority: bool = False,
        appointment_at: datetime | None = None,
        request_id: str | None = None,
        device: str | None = None,
    ) -> QueueOutcome:
        """Issue a ticket for ``service``; the same ``request_id`` again answers the same ticket (no event)."""
        prefix = self._prefix_of(service)
        _check_aware(now, "now")
        if appointment_at is not None:
            _check_aware(appointment_at, "appointment_at")
        rolls = self._rolls_over(now)
        known = None if request_id is None or rolls else self._state.ticket_for_request(request_id)
        running = 1 if rolls else self._state.counters.get(prefix, 0) + 1
        if known is None and running > MAX_NUMBER:
            raise QueueRefusal("numbers_exhausted", f"prefix {prefix} has issued {MAX_NUMBER} tickets today")
        changes = Changes(self.site, self.board, now)
        self._roll_over(changes)
        if known is not None:
            return changes.outcome(known)
        state = self._state
        order_at = order_at_for(now, priority, appointment_at, PRIORITY_HEAD_START, APPOINTMENT_GRACE)
        sequence = state.sequence + 1
        ahead = sum(1 for t in self._waiting() if t.service == service and t.order_key < (order_at, sequence))
        service_view = next(v for v in self.board(now)[1] if v.id == service)
        shown = wait_range(ahead, service_view)
        ticket = QueueTicket(
            number=ticket_number(prefix, running),
            day=local_day(now, self._tz),
            service=service,
            source=source,
            status="waiting",
            issued_at=now,
            order_at=order_at,
            sequence=sequence,
            waiting_ahead=ahead,
            priority=priority,
            appointment_at=appointment_at,
            request_id=request_id,
            device=device,
            shown_wait_lo_s=None if shown is None else shown[0],
            shown_wait_hi_s=None if shown is None else shown[1],
        )
        state.sequence = sequence
        state.counters[prefix] = running
        state.tickets[ticket.number] = ticket
        state.last_issued[service] = ticket.number
        changes.happened("issued", ticket=ticket)
        return changes.outcome(ticket)

    def window_action(
        self,
        *,
        window: str,
        action: WindowActionName,
        now: datetime,
        ticket: str | None = None,
        to_window: str | None = None,
        to_service: str | None = None,
        staff: str | None = None,
    ) -> QueueOutcome:
        """A window's key (open, close, call_next, recall, no_show, transfer, done); see the module doc."""
        _check_aware(now, "now")
        rolls = self._rolls_over(now)
        subject = check_window_action(
            self, window=window, action=action, now=now, rolls=rolls, ticket=ticket, to_window=to_window,
            to_service=to_service,
        )  # fmt: skip
        changes = Changes(self.site, self.board, now)
        self._roll_over(changes)
        place = self._state.windows[window]
        if action == "open":
            if not place.open or place.staffed_by != staff:
                place.open, place.staffed_by = True, staff
                changes.happened("window_opened", window=place)
            return changes.outcome(None)
        if action == "close":
            self._finish(place, "done", changes)
            place.open, place.staffed_by = False, None
            changes.happened("window_closed", window=place)
            self._expire_unserved(changes)
            return changes.outcome(None)
        if action == "call_next":
            self._finish(place, "done", changes)
            called = subject if subject is not None else self.next_for(window, now)
            if called is not None:
                self._call(called, place, changes)
            return changes.outcome(called)
        assert subject is not None  # check_window_action found the ticket at the window
        if action == "recall":
            subject.recalls += 1
            changes.happened("recalled", ticket=subject, window=place)
        elif action in ("done", "no_show"):
            self._finish(place, "done" if action == "done" else "no_show", changes)
        else:  # transfer
            subject.status = "waiting"
            if to_window is not None:
                subject.window = to_window
            else:
                subject.service, subject.window = str(to_service), None
            place.serving = None
            changes.happened("transferred", ticket=subject, window=place)
        return changes.outcome(subject)

    def tick(self, now: datetime) -> QueueOutcome:
        """Let the queue see the time: a new local day expires the earlier day's open tickets."""
        _check_aware(now, "now")
        changes = Changes(self.site, self.board, now)
        self._roll_over(changes)
        return changes.outcome(None)

    # --- views ----------------------------------------------------------------------------------------------------

    def board(self, now: datetime) -> tuple[list[WindowView], list[ServiceView]]:
        return board_views(self.site, self._state, self._waiting(), now, self._estimator)

    def ticket_for_request(self, request_id: str) -> TicketView | None:
        ticket = self._state.ticket_for_request(request_id)
        return None if ticket is None else ticket.view()

    def position(self, number: str) -> int | None:
        ticket = self._state.tickets.get(number)
        if ticket is None or ticket.status != "waiting":
            return None
        return sum(1 for t in self._waiting() if t.service == ticket.service and t.order_key < ticket.order_key)

    def next_for(self, window: str, now: datetime) -> QueueTicket | None:
        """The ticket ``window`` would call now: the first waiting one it may serve whose time has come."""
        services = self.site.window(window).services
        for ticket in self._waiting():
            if ticket.order_at > now:
                continue  # an appointment that came early waits for its time
            if ticket.window == window or (ticket.window is None and ticket.service in services):
                return ticket
        return None

    # --- changes ---------------------------------------------------------------------------------------------------

    def _waiting(self) -> list[QueueTicket]:
        return sorted((t for t in self._state.tickets.values() if t.status == "waiting"), key=lambda t: t.order_key)

    def _prefix_of(self, service: str) -> str:
        if service not in {s.id for s in self.site.services}:
            raise QueueRefusal("unknown_service", f"site {self.site.id} has no service {service!r}")
        return self.site.service(service).prefix

    def _rolls_over(self, now: datetime) -> bool:
        return self._state.day is not None and local_day(now, self._tz) > self._state.day

    def _roll_over(self, changes: Changes) -> None:
        """A new local day: numbering starts again, and the earlier day's open tickets expire."""
        state = self._state
        today = local_day(changes.now, self._tz)
        if state.day is not None and today <= state.day:
            return
        state.day = today
        state.counters.clear()
        state.last_called.clear()
        state.last_issued.clear()
        for ticket in sorted(state.tickets.values(), key=lambda t: t.order_key):
            if ticket.status in OPEN_STATUSES:
                place = next((w for w in state.windows.values() if w.serving == ticket.number), None)
                if place is not None:
                    place.serving = None
                ticket.status, ticket.finished_at = "expired", changes.now
                changes.happened("expired", ticket=ticket, window=place)
        state.tickets.clear()

    def _call(self, ticket: QueueTicket, place: WindowState, changes: Changes) -> None:
        ticket.status, ticket.window, ticket.last_called_at = "called", place.id, changes.now
        if ticket.called_at is None:
            ticket.called_at = changes.now
        place.serving = ticket.number
        self._state.last_called[ticket.service] = ticket.number
        changes.happened("called", ticket=ticket, window=place)

    def _finish(self, place: WindowState, kind: QueueEventKind, changes: Changes) -> None:
        """The ticket served at ``place`` (if any) is ``done`` or ``no_show``; its occupancy teaches the estimator."""
        if place.serving is None:
            return
        ticket = self._state.tickets[place.serving]
        ticket.status = "done" if kind == "done" else "no_show"
        ticket.finished_at = changes.now
        if ticket.last_called_at is not None:
            seconds = (changes.now - ticket.last_called_at).total_seconds()
            record_service_time(self._state.service_times, ticket.service, seconds)
        place.serving = None
        changes.happened(kind, ticket=ticket, window=place)

    def _expire_unserved(self, changes: Changes) -> None:
        open_windows = [w for w in self.site.windows if self._state.windows[w.id].open]
        for ticket in self._waiting():
            if ticket.window is not None:
                still = self._state.windows[ticket.window].open
            else:
                still = any(ticket.service in w.services for w in open_windows)
            if still or served_again_today(self.site, ticket.service, changes.now, self._tz):
                continue
            ticket.status, ticket.finished_at = "expired", changes.now
            changes.happened("expired", ticket=ticket)


def _check_aware(moment: datetime, name: str) -> None:
    if moment.utcoffset() is None:
        raise QueueRefusal("bad_request", f"{name} must be timezone-aware")
