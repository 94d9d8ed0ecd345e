"""The centre's copy of the site queues, written from the agents' ``queue.v1`` events (tables: 0005_queue.sql).

Every event is kept (``queue_event``, keyed by the agent's envelope seq, so a replay inserts nothing); the ticket it
carries and the site's board after it replace the stored ones only when the event is newer (by seq) than what they
came from, so a late copy of an older event never turns a ticket or a board back. Each site whose queue changed is
announced with ``NOTIFY sc_queue_board, '<site_id>'``, which PostgreSQL delivers on COMMIT: the displays' feed
(server/api/queue_feed.py) wakes at once instead of at its next poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from devices.queue_contract import QueueEventData, TicketView, number_of, queue_time
from devices.topics import AGENT_DEVICE_ID
from server.db.errors import translated_errors

# The LISTEN/NOTIFY channel of board changes; the payload is the site id.
QUEUE_BOARD_CHANNEL = "sc_queue_board"


@dataclass(frozen=True, slots=True)
class QueueEventRecord:
    """One ``queue.v1`` envelope of a site's agent, validated: times already checked (server/ingest/queue_events.py)."""

    site_id: str
    seq: int  # the envelope's, numbered by the agent's outbox for '_agent'
    ts: datetime  # the edge's wall clock when it sent the envelope
    received_at: datetime
    data: QueueEventData

    def __post_init__(self) -> None:
        for name in ("ts", "received_at"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {getattr(self, name)!r}")

    @property
    def device_id(self) -> str:
        """The sender whose outbox numbered ``seq``: what the ingest confirms back to the agent."""
        return AGENT_DEVICE_ID


@dataclass(frozen=True, slots=True)
class QueueEventsWritten:
    inserted: int
    duplicated: int  # replays of events already stored
    sites_changed: tuple[str, ...]  # notified on sc_queue_board


_INSERT_EVENT = """
INSERT INTO queue_event (site_id, seq, kind, at, ts, received_at, day, number, service_id, window_id, ticket)
VALUES (%(site_id)s, %(seq)s, %(kind)s, %(at)s, %(ts)s, %(received_at)s, %(day)s, %(number)s, %(service_id)s,
        %(window_id)s, %(ticket)s)
ON CONFLICT (site_id, seq) DO NOTHING
"""

# A request id names one ticket; should an agent ever reuse one for another ticket (a reinstalled agent), the newer
# ticket is stored without it rather than the unique index failing the whole batch, again at every retry.
_UPSERT_TICKET = """
INSERT INTO queue_ticket (site_id, day, number, prefix, running_number, service_id, source, priority, status,
                          issued_at, order_at, appointment_at, request_id, device_id, waiting_ahead, shown_wait_lo_s,
                          shown_wait_hi_s, window_id, called_at, recalls, finished_at, last_seq)
VALUES (%(site_id)s, %(day)s, %(number)s, %(prefix)s, %(running_number)s, %(service_id)s, %(source)s, %(priority)s,
        %(status)s, %(issued_at)s, %(order_at)s, %(appointment_at)s,
        CASE WHEN EXISTS (SELECT 1 FROM queue_ticket other
                           WHERE other.site_id = %(site_id)s AND other.request_id = %(request_id)s
                             AND (other.day, other.number) <> (%(day)s::date, %(number)s::text))
             THEN NULL ELSE %(request_id)s END,
        %(device_id)s, %(waiting_ahead)s, %(shown_wait_lo_s)s, %(shown_wait_hi_s)s, %(window_id)s, %(called_at)s,
        %(recalls)s, %(finished_at)s, %(last_seq)s)
ON CONFLICT (site_id, day, number) DO UPDATE
   SET service_id = EXCLUDED.service_id, source = EXCLUDED.source, priority = EXCLUDED.priority,
       status = EXCLUDED.status, issued_at = EXCLUDED.issued_at, order_at = EXCLUDED.order_at,
       appointment_at = EXCLUDED.appointment_at, request_id = EXCLUDED.request_id, device_id = EXCLUDED.device_id,
       waiting_ahead = EXCLUDED.waiting_ahead, shown_wait_lo_s = EXCLUDED.shown_wait_lo_s,
       shown_wait_hi_s = EXCLUDED.shown_wait_hi_s, window_id = EXCLUDED.window_id, called_at = EXCLUDED.called_at,
       recalls = EXCLUDED.recalls, finished_at = EXCLUDED.finished_at, last_seq = EXCLUDED.last_seq
 WHERE queue_ticket.last_seq < EXCLUDED.last_seq
"""

_UPSERT_BOARD = """
INSERT INTO queue_board (site_id, seq, at, windows, services, received_at)
VALUES (%(site_id)s, %(seq)s, %(at)s, %(windows)s, %(services)s, %(received_at)s)
ON CONFLICT (site_id) DO UPDATE
   SET seq = EXCLUDED.seq, at = EXCLUDED.at, windows = EXCLUDED.windows, services = EXCLUDED.services,
       received_at = EXCLUDED.received_at
 WHERE queue_board.seq < EXCLUDED.seq
"""


def write_queue_events(conn: psycopg.Connection[Any], *, events: Sequence[QueueEventRecord]) -> QueueEventsWritten:
    """Store a batch's queue events in seq order per site and notify the sites whose queue changed. Does not commit.

    A few statements per event: a busy hall makes a few thousand events a day, never the rate of readings.
    """
    inserted = 0
    changed: list[str] = []
    with translated_errors("write queue events"), conn.cursor() as cur:
        for event in sorted(events, key=lambda e: (e.site_id, e.seq)):
            cur.execute(_INSERT_EVENT, _event_params(event))
            if cur.rowcount == 0:
                continue  # a replay: what it carried was applied when it was first stored
            inserted += 1
            if event.data.ticket is not None:
                cur.execute(_UPSERT_TICKET, _ticket_params(event.site_id, event.seq, event.data.ticket))
            cur.execute(
                _UPSERT_BOARD,
                {
                    "site_id": event.site_id,
                    "seq": event.seq,
                    "at": queue_time(event.data.at),
                    "windows": Jsonb([window.model_dump(mode="json") for window in event.data.windows]),
                    "services": Jsonb([service.model_dump(mode="json") for service in event.data.services]),
                    "received_at": event.received_at,
                },
            )
            if event.site_id not in changed:
                changed.append(event.site_id)
        for site_id in changed:
            cur.execute("SELECT pg_notify(%s, %s)", (QUEUE_BOARD_CHANNEL, site_id))
    return QueueEventsWritten(inserted=inserted, duplicated=len(events) - inserted, sites_changed=tuple(changed))


def _event_params(event: QueueEventRecord) -> dict[str, Any]:
    ticket = event.data.ticket
    return {
        "site_id": event.site_id,
        "seq": event.seq,
        "kind": event.data.kind,
        "at": queue_time(event.data.at),
        "ts": event.ts,
        "received_at": event.received_at,
        "day": None if ticket is None else date.fromisoformat(ticket.day),
        "number": None if ticket is None else ticket.number,
        "service_id": None if ticket is None else ticket.service,
        "window_id": event.data.window,
        "ticket": None if ticket is None else Jsonb(ticket.model_dump(mode="json")),
    }


def _ticket_params(site_id: str, seq: int, ticket: TicketView) -> dict[str, Any]:
    def moment(text: str | None) -> Any:
        return None if text is None else queue_time(text)

    return {
        "site_id": site_id,
        "day": date.fromisoformat(ticket.day),
        "number": ticket.number,
        "prefix": ticket.number[0],
        "running_number": number_of(ticket.number),
        "service_id": ticket.service,
        "source": ticket.source,
        "priority": ticket.priority,
        "status": ticket.status,
        "issued_at": queue_time(ticket.issued_at),
        "order_at": queue_time(ticket.order_at),
        "appointment_at": moment(ticket.appointment_at),
        "request_id": ticket.request_id,
        "device_id": ticket.device,
        "waiting_ahead": ticket.waiting_ahead,
        "shown_wait_lo_s": ticket.shown_wait_lo_s,
        "shown_wait_hi_s": ticket.shown_wait_hi_s,
        "window_id": ticket.window,
        "called_at": moment(ticket.called_at),
        "recalls": ticket.recalls,
        "finished_at": moment(ticket.finished_at),
        "last_seq": seq,
    }
