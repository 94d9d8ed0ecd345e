"""The plain data a site queue keeps: the tickets of the current local day, the windows and the counters.

:class:`QueueState` is what :mod:`edge.queue.store` saves and loads; :class:`~edge.queue.engine.SiteQueue` is the
only thing that changes it. Times are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from devices.queue_contract import TicketSource, TicketStatus, TicketView, WindowView, queue_text, queue_time

# Statuses in which a ticket still belongs to the queue (the rest are finished).
OPEN_STATUSES: frozenset[TicketStatus] = frozenset({"waiting", "called"})


@dataclass(slots=True)
class QueueTicket:
    """One ticket; ``sequence`` is the site's issue order (ties of ``order_at`` go to the earlier issued).

    A waiting ticket with ``window`` set was transferred to that window and is called only there."""

    number: str
    day: str
    service: str
    source: TicketSource
    status: TicketStatus
    issued_at: datetime
    order_at: datetime
    sequence: int
    waiting_ahead: int
    priority: bool = False
    appointment_at: datetime | None = None
    request_id: str | None = None
    device: str | None = None
    shown_wait_lo_s: int | None = None
    shown_wait_hi_s: int | None = None
    window: str | None = None
    called_at: datetime | None = None
    recalls: int = 0
    finished_at: datetime | None = None
    last_called_at: datetime | None = None  # the latest call (a transferred ticket is called again elsewhere)

    @property
    def order_key(self) -> tuple[datetime, int]:
        return self.order_at, self.sequence

    def view(self) -> TicketView:
        return TicketView(
            number=self.number,
            day=self.day,
            service=self.service,
            source=self.source,
            priority=self.priority,
            status=self.status,
            issued_at=queue_text(self.issued_at),
            order_at=queue_text(self.order_at),
            appointment_at=_text(self.appointment_at),
            request_id=self.request_id,
            device=self.device,
            waiting_ahead=self.waiting_ahead,
            shown_wait_lo_s=self.shown_wait_lo_s,
            shown_wait_hi_s=self.shown_wait_hi_s,
            window=self.window,
            called_at=_text(self.called_at),
            recalls=self.recalls,
            finished_at=_text(self.finished_at),
        )

    @classmethod
    def from_view(cls, view: TicketView, *, sequence: int, last_called_at: datetime | None = None) -> QueueTicket:
        return cls(
            number=view.number,
            day=view.day,
            service=view.service,
            source=view.source,
            status=view.status,
            issued_at=queue_time(view.issued_at),
            order_at=queue_time(view.order_at),
            sequence=sequence,
            waiting_ahead=view.waiting_ahead,
            priority=view.priority,
            appointment_at=_time(view.appointment_at),
            request_id=view.request_id,
            device=view.device,
            shown_wait_lo_s=view.shown_wait_lo_s,
            shown_wait_hi_s=view.shown_wait_hi_s,
            window=view.window,
            called_at=_time(view.called_at),
            recalls=view.recalls,
            finished_at=_time(view.finished_at),
            last_called_at=last_called_at or _time(view.called_at),
        )


@dataclass(slots=True)
class WindowState:
    """A service window as the queue sees it; ``serving`` is the number called there and not yet finished."""

    id: str
    open: bool = False
    staffed_by: str | None = None
    serving: str | None = None

    def view(self, services: tuple[str, ...]) -> WindowView:
        return WindowView(
            id=self.id, open=self.open, services=list(services), serving=self.serving, staffed_by=self.staffed_by
        )


@dataclass(slots=True)
class QueueState:
    """Everything a site queue needs to carry on after a restart.

    ``day`` is the site-local date (ISO) the tickets and ``counters`` belong to (None before the first ticket or
    action); ``counters`` the last running number issued per prefix that day; ``sequence`` the last issue order
    given (never reset); ``service_times`` the recent window occupancy per service in seconds (call to finish, see
    :mod:`edge.queue.estimate`), kept across days."""

    day: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    sequence: int = 0
    tickets: dict[str, QueueTicket] = field(default_factory=dict)
    windows: dict[str, WindowState] = field(default_factory=dict)
    service_times: dict[str, list[float]] = field(default_factory=dict)
    last_called: dict[str, str] = field(default_factory=dict)  # service -> number, this day
    last_issued: dict[str, str] = field(default_factory=dict)  # service -> number, this day

    def ticket_for_request(self, request_id: str) -> QueueTicket | None:
        return next((t for t in self.tickets.values() if t.request_id == request_id), None)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else queue_text(moment)


def _time(text: str | None) -> datetime | None:
    return None if text is None else queue_time(text)
