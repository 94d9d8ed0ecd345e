"""What one request to the site queue changed: its events, each with the board after it, and the tickets and
windows to save."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from devices.queue_contract import QueueEventData, QueueEventKind, ServiceView, TicketView, WindowView, queue_text
from devices.site import Site
from edge.queue.state import QueueTicket, WindowState

Board = tuple[list[WindowView], list[ServiceView]]


@dataclass(frozen=True, slots=True)
class QueueOutcome:
    events: tuple[QueueEventData, ...]  # in the order things happened, each with the board after it
    ticket: TicketView | None  # the ticket the request was about, as it stands now
    changed_tickets: tuple[TicketView, ...]  # for the store
    changed_windows: tuple[WindowView, ...]


class Changes:
    """What one request changed, gathered as it goes."""

    def __init__(self, site: Site, board: Callable[[datetime], Board], now: datetime) -> None:
        self._site = site
        self._board = board
        self.now = now
        self.events: list[QueueEventData] = []
        self.tickets: dict[tuple[str, str], QueueTicket] = {}
        self.windows: dict[str, WindowState] = {}

    def happened(
        self, kind: QueueEventKind, *, ticket: QueueTicket | None = None, window: WindowState | None = None
    ) -> None:
        if ticket is not None:
            self.tickets[ticket.day, ticket.number] = ticket
        if window is not None:
            self.windows[window.id] = window
        windows, services = self._board(self.now)
        self.events.append(
            QueueEventData(
                kind=kind,
                at=queue_text(self.now),
                ticket=None if ticket is None else ticket.view(),
                window=None if window is None else window.id,
                windows=windows,
                services=services,
            )
        )

    def outcome(self, ticket: QueueTicket | None) -> QueueOutcome:
        site = self._site
        return QueueOutcome(
            events=tuple(self.events),
            ticket=None if ticket is None else ticket.view(),
            changed_tickets=tuple(t.view() for t in self.tickets.values()),
            changed_windows=tuple(w.view(site.window(w.id).services) for w in self.windows.values()),
        )
