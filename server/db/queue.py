"""Reading the centre's copy of a site's queue (written by server/db/queue_writes.py): the board, tickets, calls.

Tickets come back as the contract's :class:`TicketView` (times as RFC 3339 UTC text on the queue's clock), the
board's windows and services as :class:`WindowView` and :class:`ServiceView`, so the displays read them exactly as
the agent sent them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from pydantic import TypeAdapter

from devices.queue_contract import ServiceView, TicketView, WindowView, queue_text
from server.db.errors import translated_errors

_WINDOWS = TypeAdapter(list[WindowView])
_SERVICES = TypeAdapter(list[ServiceView])


@dataclass(frozen=True, slots=True)
class QueueBoardRow:
    """A site's newest board: its windows and services after the newest event the centre has."""

    site_id: str
    seq: int
    at: datetime  # the queue's clock at that event
    windows: list[WindowView]
    services: list[ServiceView]
    received_at: datetime  # when the server took that event


@dataclass(frozen=True, slots=True)
class RecentCall:
    """One call (or recall) of a ticket at a window, from the stored events."""

    seq: int
    kind: str  # called | recalled
    number: str
    service_id: str
    window_id: str
    at: datetime  # the queue's clock


def load_board(conn: psycopg.Connection[Any], *, site_id: str) -> QueueBoardRow | None:
    """The site's newest board, or None before its agent's first event."""
    query = "SELECT site_id, seq, at, windows::text, services::text, received_at FROM queue_board WHERE site_id = %s"
    with translated_errors("read queue board"), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(query, (site_id,)).fetchone()
    if row is None:
        return None
    site, seq, at, windows, services, received_at = row
    return QueueBoardRow(
        site_id=site,
        seq=seq,
        at=at,
        windows=_WINDOWS.validate_json(windows),
        services=_SERVICES.validate_json(services),
        received_at=received_at,
    )


_TICKET_COLUMNS = (
    "number, day, service_id, source, priority, status, issued_at, order_at, appointment_at, request_id, device_id,"
    " waiting_ahead, shown_wait_lo_s, shown_wait_hi_s, window_id, called_at, recalls, finished_at"
)


def _ticket(row: tuple[Any, ...]) -> TicketView:
    (number, day, service, source, priority, status, issued_at, order_at, appointment_at, request_id, device,
     waiting_ahead, shown_lo, shown_hi, window, called_at, recalls, finished_at) = row  # fmt: skip

    def text(moment: datetime | None) -> str | None:
        return None if moment is None else queue_text(moment)

    return TicketView(
        number=number,
        day=day.isoformat(),
        service=service,
        source=source,
        priority=priority,
        status=status,
        issued_at=queue_text(issued_at),
        order_at=queue_text(order_at),
        appointment_at=text(appointment_at),
        request_id=request_id,
        device=device,
        waiting_ahead=waiting_ahead,
        shown_wait_lo_s=shown_lo,
        shown_wait_hi_s=shown_hi,
        window=window,
        called_at=text(called_at),
        recalls=recalls,
        finished_at=text(finished_at),
    )


def load_ticket(conn: psycopg.Connection[Any], *, site_id: str, day: date, number: str) -> TicketView | None:
    """One ticket as it stands (its newest event), or None when the centre has never heard of it."""
    query = f"SELECT {_TICKET_COLUMNS} FROM queue_ticket WHERE site_id = %s AND day = %s AND number = %s"
    with translated_errors("read queue ticket"), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(query, (site_id, day, number)).fetchone()
    return None if row is None else _ticket(row)


def load_ticket_by_request(conn: psycopg.Connection[Any], *, site_id: str, request_id: str) -> TicketView | None:
    """The ticket a take command (its id is the request id) was answered with, or None."""
    query = f"SELECT {_TICKET_COLUMNS} FROM queue_ticket WHERE site_id = %s AND request_id = %s"
    with translated_errors("read queue ticket"), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(query, (site_id, request_id)).fetchone()
    return None if row is None else _ticket(row)


def waiting_tickets(conn: psycopg.Connection[Any], *, site_id: str, day: date) -> list[TicketView]:
    """Every ticket of the day still waiting, in the order they wait: ``order_at``, then number."""
    query = (
        f"SELECT {_TICKET_COLUMNS} FROM queue_ticket WHERE site_id = %s AND day = %s AND status = 'waiting'"
        " ORDER BY order_at, number"
    )
    with translated_errors("read waiting tickets"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(query, (site_id, day)).fetchall()
    return [_ticket(row) for row in rows]


def recent_calls(
    conn: psycopg.Connection[Any], *, site_id: str, limit: int = 8, day: date | None = None
) -> list[RecentCall]:
    """The newest calls and recalls of the site (of one ticket day, or any), newest first."""
    if not 1 <= limit <= 100:
        raise ValueError(f"limit must be in 1..100, got {limit}")
    query = (
        "SELECT seq, kind, number, service_id, window_id, at FROM queue_event"
        " WHERE site_id = %(site_id)s AND kind IN ('called', 'recalled') AND number IS NOT NULL"
        " AND window_id IS NOT NULL AND (%(day)s::date IS NULL OR day = %(day)s)"
        " ORDER BY seq DESC LIMIT %(limit)s"
    )
    with translated_errors("read recent calls"), conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(query, {"site_id": site_id, "day": day, "limit": limit}).fetchall()
    return [RecentCall(*row) for row in rows]
