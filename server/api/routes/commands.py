"""Commands to devices (unlock a door, show text on a board, print a ticket) and their results.

Staff routes: they are to be protected when authentication arrives (a later issue); until then they are open like
the rest of the API. Errors of the command service map to statuses in ``server.api.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import CommandsDep, SiteDep, StaffDep
from server.db.commands import CommandRecord, CommandState

router = APIRouter(prefix="/api/v1", tags=["commands"])

# The longest a request may wait for the device's answer (seconds): a door unlock answers in well under a second;
# a command that takes longer is followed with GET /api/v1/commands/{command_id}.
MAX_WAIT_S = 10.0


class CommandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    args: dict[str, Any] = Field(default_factory=dict, description="the action's arguments (devices/commands.py)")
    wait_s: float = Field(default=0.0, ge=0.0, le=MAX_WAIT_S, description="seconds to wait for the device's answer")


class CommandPublic(BaseModel):
    command_id: str
    site_id: str
    device_id: str
    action: str
    args: Mapping[str, Any]
    issued_at: datetime
    expires_at: datetime
    # sent (no answer yet) | done | failed | rejected | expired (reached the edge too late) | unanswered
    status: CommandState
    detail: str
    result: Mapping[str, Any] | None  # the answer's data, when it has any
    answered_at: datetime | None


def command_public(record: CommandRecord) -> CommandPublic:
    return CommandPublic(
        command_id=record.command_id,
        site_id=record.site_id,
        device_id=record.device_id,
        action=record.action,
        args=record.args,
        issued_at=record.issued_at,
        expires_at=record.expires_at,
        status=record.status,
        detail=record.detail,
        result=record.result_data,
        answered_at=record.answered_at,
    )


@router.post(
    "/sites/{site_id}/devices/{device_id}/commands/{action}",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "the device answered within wait_s"},
        401: {"description": "no valid bearer token"},
        403: {"description": "staff or administrators of the device's site only"},
        404: {"description": "no such site or device"},
        422: {"description": "the device's model does not take the action, or the args are wrong"},
        503: {"description": "the broker is not reachable (nothing was sent, unless the detail says otherwise)"},
    },
)
def issue_command(
    site: SiteDep,
    device_id: str,
    action: str,
    body: CommandCreate,
    staff: StaffDep,
    commands: CommandsDep,
    response: Response,
) -> CommandPublic:
    """Send a command to a device through its site's edge agent: 202 with the command while it has no answer, 200
    with the answer when it came within ``wait_s`` seconds. Staff and administrators of the site only: a command
    can unlock a door."""
    if not staff.covers_site(site.id):
        raise HTTPException(status_code=403, detail=f"you act for site {staff.site_id}, not {site.id}")
    record = commands.issue(site.id, device_id, action, body.args)
    if body.wait_s > 0:
        record = commands.wait_for_answer(record.command_id, timeout_s=body.wait_s)
    if record.answered:
        response.status_code = status.HTTP_200_OK
    return command_public(record)


@router.get("/commands/{command_id}", responses={404: {"description": "no such command"}})
def get_command(command_id: str, staff: StaffDep, commands: CommandsDep) -> CommandPublic:
    """A command and its result; one past its expiry with no answer reads as ``unanswered``. Staff only; another
    site's command answers 404 like a missing one."""
    record = commands.get(command_id)
    if not staff.covers_site(record.site_id):
        raise HTTPException(status_code=404, detail=f"no command {command_id}")
    return command_public(record)
