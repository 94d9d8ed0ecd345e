"""Taking a ticket and acting at a window through the API: forwarded to the site's edge agent, which owns the queue.

The agent is the one issuer and caller of its site's tickets (devices/queue_contract.py), so these routes send it a
``take`` or ``window`` command and wait (bounded) for its answer, which carries the ticket. While the site's agent
is not online the centre cannot reach the queue: the answer is 503 ``site_offline`` at once (the hall's dispensers
and terminals keep working at the site). A resident who retries with the same ``Idempotency-Key`` gets the same
ticket, never a second one: the key becomes the command id, and the agent remembers every request id it answered.

These routes never hold a database connection while they wait for the site: a burst of residents taking tickets
when the hall opens would otherwise hold every pooled connection while the answers need one to be read.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from devices.queue_contract import TAKE_ACTION, WINDOW_ACTION, TicketView, WindowActionName, queue_text
from devices.topics import AGENT_DEVICE_ID
from server.api.deps import CommandsDep, SiteDep
from server.commands import CommandService, SiteQueueError
from server.db.accounts import account_for_token
from server.db.commands import CommandRecord
from server.db.device_health import site_health
from server.domain.accounts import Account

router = APIRouter(prefix="/api/v1", tags=["queue"])

# How long a request waits for the site's answer (seconds): the agent answers in milliseconds; a site that does not
# answer within this is unreachable for now (the ticket may still be issued: retry with the same Idempotency-Key).
ANSWER_WAIT_S = 8.0
# What a refusal of the site's queue (edge.queue.engine.QueueRefusal codes) means over HTTP.
STATUS_OF_REFUSAL = {
    "unknown_service": 422,
    "unknown_window": 404,
    "service_not_at_window": 422,
    "bad_request": 422,
    "window_closed": 409,
    "no_ticket": 409,
    "not_at_window": 409,
    "numbers_exhausted": 409,
    "clock_not_ready": 503,
    "storage": 503,
}
_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/token")


def get_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Account:
    """The bearer token's account, read on a connection given back at once (see the module doc)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status_code=401, detail="log in first", headers={"WWW-Authenticate": "Bearer"})
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as connection:
        account = account_for_token(connection, credentials.credentials, now=datetime.now(UTC))
    if account is None:
        raise HTTPException(
            status_code=401, detail="unknown, expired or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    return account


CallerDep = Annotated[Account, Depends(get_caller)]


class TicketTake(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(description="a service id of the site, e.g. party-mass")
    priority: bool = Field(default=False, description="elderly priority: staff and administrators only")
    appointment_at: datetime | None = Field(default=None, description="an appointment's time (aware)")


class WindowAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket: str | None = Field(default=None, description="the ticket (default: the one now at the window)")
    to_window: str | None = None
    to_service: str | None = None


class QueueAnswer(BaseModel):
    ticket: TicketView | None
    events: list[str] = Field(description="what happened, in order (e.g. done, called)")
    my_ticket_page: str | None = Field(default=None, description="the phone page that follows this ticket")
    command_id: str


def _site_online(request: Request, site_id: str) -> bool:
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as connection:
        agent = site_health(connection, site_id=site_id).get(AGENT_DEVICE_ID)
    return agent is not None and agent.state == "online"


def _forward(
    request: Request, commands: CommandService, site_id: str, action: str, args: dict[str, Any], command_id: str | None
) -> QueueAnswer:
    if not _site_online(request, site_id):
        raise SiteQueueError(
            503,
            "site_offline",
            f"site {site_id} is not reachable from the centre now; its dispensers and window terminals"
            " keep working at the site",
        )
    record = commands.issue_to_agent(site_id, action, args, command_id=command_id)
    record = commands.wait_for_answer(record.command_id, timeout_s=ANSWER_WAIT_S)
    return _answer(site_id, record)


def _answer(site_id: str, record: CommandRecord) -> QueueAnswer:
    if record.status == "sent":
        raise SiteQueueError(
            504,
            "site_unreachable",
            f"site {site_id} did not answer within {ANSWER_WAIT_S:g} s; retry with the same"
            f" Idempotency-Key (command {record.command_id})",
        )
    data = record.result_data or {}
    if record.status != "done":
        code = str(data.get("code") or record.status)
        raise SiteQueueError(STATUS_OF_REFUSAL.get(code, 502), code, record.detail)
    ticket = None if data.get("ticket") is None else TicketView.model_validate(data["ticket"])
    page = None if ticket is None else f"/display/{site_id}/ticket/{ticket.day}/{ticket.number}"
    return QueueAnswer(
        ticket=ticket, events=list(data.get("events") or []), my_ticket_page=page, command_id=record.command_id
    )


def _command_id(account: Account, key: str | None) -> str | None:
    """The command id of an idempotent request: the caller's key, scoped to the caller."""
    if key is None:
        return None
    return hashlib.sha256(f"{account.id}\x00{key}".encode()).hexdigest()[:40]


@router.post(
    "/sites/{site_id}/tickets",
    status_code=status.HTTP_201_CREATED,
    responses={
        401: {"description": "no valid bearer token"},
        403: {"description": "priority tickets are for staff to give"},
        422: {"description": "no such service at this site"},
        503: {"description": "the site is not reachable from the centre (code site_offline)"},
        504: {"description": "the site did not answer in time; retry with the same Idempotency-Key"},
    },
)
def take_ticket(
    request: Request,
    site: SiteDep,
    body: TicketTake,
    caller: CallerDep,
    commands: CommandsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> QueueAnswer:
    """Take a ticket for a service of the site (by phone, or staff at reception for a resident). The answer has the
    number, the tickets ahead and the wait range shown, and the phone page that follows it."""
    if body.priority and not caller.acts_for_others:
        raise SiteQueueError(403, "forbidden", "priority tickets are given by staff")
    if body.appointment_at is not None and body.appointment_at.utcoffset() is None:
        raise SiteQueueError(422, "bad_request", "appointment_at needs a UTC offset")
    source = "appointment" if body.appointment_at is not None else "staff" if caller.acts_for_others else "api"
    args: dict[str, Any] = {"service": body.service, "source": source, "priority": body.priority}
    if body.appointment_at is not None:
        args["appointment_at"] = queue_text(body.appointment_at)
    return _forward(request, commands, site.id, TAKE_ACTION, args, _command_id(caller, idempotency_key))


@router.post(
    "/sites/{site_id}/windows/{window_id}/{action}",
    responses={
        401: {"description": "no valid bearer token"},
        403: {"description": "staff of the site only"},
        409: {"description": "the window is closed, or there is no such ticket to act on"},
        503: {"description": "the site is not reachable from the centre (code site_offline)"},
    },
)
def window_action(
    request: Request,
    site: SiteDep,
    window_id: str,
    action: WindowActionName,
    body: WindowAction,
    caller: CallerDep,
    commands: CommandsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> QueueAnswer:
    """What a window's call terminal does, from a staff console: open, close, call_next, recall, no_show, transfer
    (with to_window or to_service), done."""
    if not caller.acts_for_others or not caller.covers_site(site.id):
        raise SiteQueueError(403, "forbidden", f"staff of {site.id} only")
    args: dict[str, Any] = {"window": window_id, "action": action, "staff": caller.login[:64]}
    args.update({key: value for key, value in body.model_dump().items() if value is not None})
    return _forward(request, commands, site.id, WINDOW_ACTION, args, _command_id(caller, idempotency_key))
