"""The site queue on the wire: what the edge agent's ticket queue tells the centre, and what the centre asks of it.

Each site's queue lives in its edge agent (``edge.queue``): it is the one issuer of ticket numbers and the one
caller of tickets for that site, online or not, so numbers stay unique and gapless per prefix and day and no ticket
is called twice, even while the centre is unreachable. The centre keeps a copy from the agent's events.

Events, from the agent (``<root>/v1/<site>/_agent/event/queue``, critical: never dropped by the outbox):

    queue.v1  {"kind": "called", "at": "2026-11-28T02:10:00.000Z", "ticket": {...TicketView},
               "window": "window-2", "windows": [...WindowView], "services": [...ServiceView]}

- ``kind`` says what happened; ``ticket`` is the ticket it happened to, as it stands afterwards (None for window
  openings and closings); ``window`` the window it happened at, if any.
- ``at`` is the queue's clock (UTC): the wall clock in production, the simulated clock in a demo. The envelope's
  own ``ts`` is always the edge's wall clock.
- ``windows`` and ``services`` are the whole site's board after the event, so the newest event of a site is all a
  display needs.

Commands, from the centre to the agent (``<root>/v1/<site>/_agent/cmd/<action>``, see :mod:`devices.commands` for the
envelope; their args are :class:`TakeArgs` and :class:`WindowArgs`), answered with ``command_result.v1`` whose
``data`` is ``{"ticket": TicketView | null, "event": kind | null}``:

- ``take``: issue a ticket for a service (from the API, staff at reception, an appointment). The command id is the
  request's identity: the same command id answers the same ticket, also after an agent restart.
- ``window``: a window action as on its call terminal (open, close, call_next, recall, no_show, transfer, done).

Wait estimates are a range: ``wait_range(ahead, service)`` turns a service's published rate into seconds, the same
way on the printed ticket, the hall's web display and a resident's phone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

QUEUE_SCHEMA = "queue.v1"
QUEUE_EVENT_NAME = "queue"
TAKE_ACTION = "take"
WINDOW_ACTION = "window"

QueueEventKind = Literal[
    "issued",  # a new ticket (dispenser button, API, appointment)
    "called",  # a window called it (call_next)
    "recalled",  # called again at the same window
    "no_show",  # its holder did not come after being called
    "transferred",  # sent to another window or service; it waits again, keeping its place in time
    "done",  # served
    "cancelled",  # withdrawn by its holder or staff before it was called
    "expired",  # still waiting when the day ended, or when no window for its service opened again
    "window_opened",
    "window_closed",
]
TicketStatus = Literal["waiting", "called", "done", "no_show", "cancelled", "expired"]
TicketSource = Literal["dispenser", "api", "appointment", "staff"]
WindowActionName = Literal["open", "close", "call_next", "recall", "no_show", "transfer", "done"]

_Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
TICKET_PATTERN = r"^[A-Z][0-9]{3,4}$"
_Number = Annotated[str, StringConstraints(pattern=TICKET_PATTERN)]
_Day = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
_RequestId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
MAX_NUMBER = 9999  # four digits after the prefix: a prefix runs out after 9,999 tickets a day
MAX_WAIT_S = 7 * 24 * 3600


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TicketView(_Wire):
    """One ticket as the queue holds it. Times are RFC 3339 UTC text on the queue's clock.

    ``order_at`` is its place in time: when it was issued, earlier for elderly priority (aging: a priority ticket
    counts as issued ``PRIORITY_HEAD_START`` sooner, so it can pass only tickets issued within that span after it),
    or the appointment time for an appointment ticket that came in time. Tickets wait in ``order_at`` order.
    ``shown_wait_lo_s``/``shown_wait_hi_s`` is the range shown when it was issued (None: no window was open)."""

    number: _Number
    day: _Day  # the site's local date the number belongs to
    service: _Id
    source: TicketSource
    priority: bool = False
    status: TicketStatus
    issued_at: str
    order_at: str
    appointment_at: str | None = None
    request_id: _RequestId | None = None  # the take command's id, or None for a dispenser button
    device: _Id | None = None  # the dispenser that issued it
    waiting_ahead: int = Field(ge=0, le=100_000)  # tickets ahead of it when it was issued
    shown_wait_lo_s: int | None = Field(default=None, ge=0, le=MAX_WAIT_S)
    shown_wait_hi_s: int | None = Field(default=None, ge=0, le=MAX_WAIT_S)
    window: _Id | None = None  # where it was last called, or where a transfer sent it
    called_at: str | None = None  # the first call
    recalls: int = Field(default=0, ge=0, le=1000)
    finished_at: str | None = None  # done, no_show, cancelled or expired


class WindowView(_Wire):
    id: _Id
    open: bool
    services: list[_Id]
    serving: _Number | None = None  # the ticket called there and not yet done
    staffed_by: str | None = Field(default=None, max_length=64)  # the login or card that opened it


class ServiceView(_Wire):
    """One service's queue after the event. A wait is ``base + per_ahead * ahead`` seconds, low and high
    (:func:`wait_range`); all four are None when no open window handles the service (no honest estimate)."""

    id: _Id
    prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]
    waiting: int = Field(ge=0, le=100_000)
    open_windows: int = Field(ge=0, le=1000)
    last_called: _Number | None = None
    last_issued: _Number | None = None
    wait_lo_base_s: float | None = Field(default=None, ge=0)
    wait_hi_base_s: float | None = Field(default=None, ge=0)
    wait_lo_per_ahead_s: float | None = Field(default=None, ge=0)
    wait_hi_per_ahead_s: float | None = Field(default=None, ge=0)


class QueueEventData(_Wire):
    kind: QueueEventKind
    at: str
    ticket: TicketView | None = None
    window: _Id | None = None
    windows: list[WindowView] = Field(default_factory=list, max_length=200)
    services: list[ServiceView] = Field(default_factory=list, max_length=200)


class TakeArgs(_Wire):
    service: _Id
    source: Literal["api", "appointment", "staff"] = "api"
    priority: bool = False
    appointment_at: str | None = None  # RFC 3339; the ticket takes its place at this time if it came in time


class WindowArgs(_Wire):
    window: _Id
    action: WindowActionName
    ticket: _Number | None = None
    to_window: _Id | None = None
    to_service: _Id | None = None
    staff: str | None = Field(default=None, max_length=64)  # who pressed it (a login), for the record


def ticket_number(prefix: str, number: int) -> str:
    """``A007`` for the 7th ticket of prefix A: three digits, four from 1,000 on."""
    if not re.fullmatch(r"[A-Z]", prefix):
        raise ValueError(f"ticket prefix {prefix!r} is not one letter A-Z")
    if not 1 <= number <= MAX_NUMBER:
        raise ValueError(f"ticket number {number} is outside 1..{MAX_NUMBER}")
    return f"{prefix}{number:03d}"


def number_of(ticket: str) -> int:
    """The running number of a ticket (``A017`` -> 17)."""
    return int(ticket[1:])


def wait_range(ahead: int, service: ServiceView) -> tuple[int, int] | None:
    """Seconds until a ticket with ``ahead`` tickets before it is called, as (low, high); None when unknown."""
    parts = (service.wait_lo_base_s, service.wait_hi_base_s, service.wait_lo_per_ahead_s, service.wait_hi_per_ahead_s)
    if any(part is None for part in parts) or ahead < 0:
        return None
    lo_base, hi_base, lo_each, hi_each = (float(part or 0.0) for part in parts)
    low = round(lo_base + lo_each * ahead)
    return low, max(low, round(hi_base + hi_each * ahead))


def minutes_text(wait: tuple[int, int] | None) -> str:
    """What a ticket or a board says: ``"10-20 min"``, ``"under 5 min"``, or ``"no estimate"``."""
    if wait is None:
        return "no estimate"
    low, high = (max(0, round(seconds / 60)) for seconds in wait)
    if high <= 5:
        return "under 5 min"
    if high - low <= 1:
        return f"about {high} min"
    return f"{low}-{high} min"


def queue_time(text: str) -> datetime:
    """An RFC 3339 time of a queue message as aware UTC; ValueError when it is not one with an offset."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(UTC)


def queue_text(moment: datetime) -> str:
    """Aware UTC as the contract writes it: ``2026-11-28T02:10:00.000Z``."""
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_document(data: QueueEventData) -> Mapping[str, Any]:
    return data.model_dump(mode="json")
