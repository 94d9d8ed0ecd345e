"""What the hall's big screen and a resident's phone show of a site's queue: pure composition from values.

The board (windows and services after the agent's newest event), the last calls, the agent's health, the waiting
areas' crowding and the site's clock go in; the display model comes out, ready to be sent as JSON. Estimates are
read the one way the contract defines (``minutes_text(wait_range(ahead, service))``), the same as on the printed
ticket. Residents' names are never stored; anything name-like that reaches a display (a window's staff login) is
masked with :func:`mask_name`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Protocol

from devices.queue_contract import ServiceView, TicketView, WindowView, minutes_text, queue_time, wait_range
from devices.site import Site
from server.domain.crowding import CrowdingShown
from server.domain.timefmt import utc_text

# How many calls the board lists (newest first, the newest highlighted).
CALLS_SHOWN = 8


class BoardState(Protocol):
    """A site's newest board as stored (server/db/queue.py's QueueBoardRow)."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def windows(self) -> list[WindowView]: ...
    @property
    def services(self) -> list[ServiceView]: ...
    @property
    def received_at(self) -> datetime: ...


class CallRecord(Protocol):
    """One stored call or recall (server/db/queue.py's RecentCall)."""

    @property
    def kind(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def window_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class WindowShown:
    id: str
    name: str
    open: bool
    serving: str | None  # the ticket number called there and not yet done
    service_name: str | None  # the serving ticket's service
    staff: str | None  # masked (mask_name)


@dataclass(frozen=True, slots=True)
class CallShown:
    number: str
    window_id: str
    window_name: str
    kind: str  # called | recalled
    at: str  # RFC 3339 UTC, the queue's clock
    local_time: str  # HH:MM:SS in the site's time zone
    newest: bool  # the board highlights it


@dataclass(frozen=True, slots=True)
class ServiceShown:
    id: str
    name: str
    prefix: str
    waiting: int
    open_windows: int
    last_called: str | None
    wait_lo_s: int | None  # for a ticket taken now (all the waiting ahead of it); None: no estimate
    wait_hi_s: int | None
    estimate: str  # "10-20 min", "under 5 min", "no estimate"


@dataclass(frozen=True, slots=True)
class SiteStatus:
    """Whether the site's edge agent reports to the centre; when not, the board is the last one it sent."""

    reporting: bool
    agent_state: str | None  # online | offline | lost | stale, or None: never reported
    text: str


@dataclass(frozen=True, slots=True)
class QueueDisplay:
    site_id: str
    site_name: str
    timezone: str
    now: str  # the site's clock, RFC 3339 UTC
    local_date: str
    local_time: str  # HH:MM:SS
    status: SiteStatus
    board_seq: int | None  # None: the site's agent has sent no queue event yet
    board_at: str | None
    windows: list[WindowShown]
    recent_calls: list[CallShown]
    services: list[ServiceShown]
    crowding: list[CrowdingShown]


@dataclass(frozen=True, slots=True)
class TicketShown:
    site_id: str
    day: str
    number: str
    service_id: str
    service_name: str
    status: str  # waiting | called | done | no_show | cancelled | expired
    message: str  # what the phone says in one line
    window_id: str | None
    window_name: str | None
    ahead: int | None  # waiting tickets before it (None unless waiting)
    position: int | None  # ahead + 1: "you are number 3 in line"
    wait_lo_s: int | None
    wait_hi_s: int | None
    estimate: str | None  # None unless waiting
    called_at: str | None
    recalls: int
    site_status: SiteStatus


def mask_name(name: str) -> str:
    """Keep a name's first and last character, star the rest: "张三丰" -> "张*丰", "张三" -> "张*", "Li" -> "L*"."""
    text = "".join(name.split())
    if len(text) <= 1:
        return "*" if text else ""
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def site_status(agent_state: str | None) -> SiteStatus:
    if agent_state == "online":
        return SiteStatus(True, agent_state, "live")
    if agent_state is None:
        return SiteStatus(False, None, "site not reporting (its edge agent has never reported)")
    return SiteStatus(False, agent_state, f"site not reporting (its edge agent is {agent_state})")


def compose_display(
    *,
    site: Site,
    tz: tzinfo,
    now: datetime,
    agent_state: str | None,
    board: BoardState | None,
    calls: Sequence[CallRecord],
    crowding: Sequence[CrowdingShown],
) -> QueueDisplay:
    """The big screen's model. ``now`` is the site's clock (the queue's), ``calls`` newest first."""
    local = now.astimezone(tz)
    views = {view.id: view for view in board.windows} if board is not None else {}
    services = {view.id: view for view in board.services} if board is not None else {}
    windows = [_window_shown(site, window.id, window.name, views.get(window.id)) for window in site.windows]
    shown_calls = [
        CallShown(
            number=call.number,
            window_id=call.window_id,
            window_name=_window_name(site, call.window_id),
            kind=call.kind,
            at=utc_text(call.at),
            local_time=call.at.astimezone(tz).strftime("%H:%M:%S"),
            newest=index == 0,
        )
        for index, call in enumerate(calls[:CALLS_SHOWN])
    ]
    return QueueDisplay(
        site_id=site.id,
        site_name=site.name,
        timezone=str(tz),
        now=utc_text(now),
        local_date=local.date().isoformat(),
        local_time=local.strftime("%H:%M:%S"),
        status=site_status(agent_state),
        board_seq=None if board is None else board.seq,
        board_at=None if board is None else utc_text(board.at),
        windows=windows,
        recent_calls=shown_calls,
        services=[
            _service_shown(service.id, service.name, service.prefix, services.get(service.id))
            for service in site.services
        ],
        crowding=list(crowding),
    )


def tickets_ahead(ticket: TicketView, waiting: Sequence[TicketView], site: Site) -> int:
    """How many waiting tickets would be called before ``ticket``: those earlier by (order_at, number) that the same
    windows serve. A ticket sent to one window by a transfer waits only for that window: ahead of it are the tickets
    that window would call first (sent to it, or of a service it handles)."""
    key = (queue_time(ticket.order_at), ticket.number)
    window_services: tuple[str, ...] = ()
    if ticket.window is not None:
        window_services = next((w.services for w in site.windows if w.id == ticket.window), ())

    def competes(other: TicketView) -> bool:
        if ticket.window is None:
            return other.service == ticket.service
        return other.window == ticket.window or (other.window is None and other.service in window_services)

    return sum(
        1
        for other in waiting
        if other.number != ticket.number
        and other.status == "waiting"
        and competes(other)
        and (queue_time(other.order_at), other.number) < key
    )


def compose_ticket(
    *,
    site: Site,
    ticket: TicketView,
    waiting: Sequence[TicketView],
    services: Sequence[ServiceView],
    agent_state: str | None,
) -> TicketShown:
    """A resident's "my ticket" page: status, place in line and estimate while waiting, the window once called."""
    service_name = next((s.name for s in site.services if s.id == ticket.service), ticket.service)
    window_name = None if ticket.window is None else _window_name(site, ticket.window)
    ahead = position = low = high = None
    estimate = None
    if ticket.status == "waiting":
        ahead = tickets_ahead(ticket, waiting, site)
        position = ahead + 1
        view = next((s for s in services if s.id == ticket.service), None)
        wait = None if view is None else wait_range(ahead, view)
        low, high = (None, None) if wait is None else wait
        estimate = minutes_text(wait)
    return TicketShown(
        site_id=site.id,
        day=ticket.day,
        number=ticket.number,
        service_id=ticket.service,
        service_name=service_name,
        status=ticket.status,
        message=_ticket_message(ticket, window_name, ahead, estimate),
        window_id=ticket.window,
        window_name=window_name,
        ahead=ahead,
        position=position,
        wait_lo_s=low,
        wait_hi_s=high,
        estimate=estimate,
        called_at=ticket.called_at,
        recalls=ticket.recalls,
        site_status=site_status(agent_state),
    )


def ticket_day(now: datetime, tz: tzinfo) -> date:
    """The site's local date: the day today's ticket numbers belong to."""
    return now.astimezone(tz).date()


_STATUS_TEXT: dict[str, str] = {
    "done": "Served. Thank you.",
    "no_show": "Called but not answered; ask at reception.",
    "cancelled": "Cancelled.",
    "expired": "Expired at the end of the day.",
}


def _ticket_message(ticket: TicketView, window_name: str | None, ahead: int | None, estimate: str | None) -> str:
    if ticket.status == "called":
        return f"Your number {ticket.number} is called at {window_name or 'a window'}"
    if ticket.status == "waiting":
        before = "you are next" if ahead == 0 else f"{ahead} ahead of you"
        return f"Waiting: {before}, {estimate}"
    return _STATUS_TEXT.get(ticket.status, ticket.status)


def _window_name(site: Site, window_id: str) -> str:
    return next((w.name for w in site.windows if w.id == window_id), window_id)


def _window_shown(site: Site, window_id: str, name: str, view: WindowView | None) -> WindowShown:
    if view is None:
        return WindowShown(window_id, name, open=False, serving=None, service_name=None, staff=None)
    service_name = None
    if view.serving is not None:
        prefix = view.serving[0]
        service_name = next((s.name for s in site.services if s.prefix == prefix), None)
    staff = None if view.staffed_by is None else mask_name(view.staffed_by)
    return WindowShown(window_id, name, view.open, view.serving, service_name, staff)


def _service_shown(service_id: str, name: str, prefix: str, view: ServiceView | None) -> ServiceShown:
    if view is None:
        return ServiceShown(service_id, name, prefix, 0, 0, None, None, None, minutes_text(None))
    wait = wait_range(view.waiting, view)
    low, high = (None, None) if wait is None else wait
    return ServiceShown(
        service_id, name, prefix, view.waiting, view.open_windows, view.last_called, low, high, minutes_text(wait)
    )
