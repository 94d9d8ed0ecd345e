"""Notices to the logged-in account, and the one-step link a notice carries ("keep it", "accept the offer").

The link works without logging in (the token in it is the proof), once, until the notice's action expires. Its
times are on the server's clock, like the bookings it acts on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from server.api.deps import AccountDep, BookingNowDep, ConnectionDep
from server.db.notices import NoticeAction, NoticeRecord, act_on_notice, list_notices, mark_notice_read

router = APIRouter(prefix="/api/v1", tags=["notices"])


class NoticePublic(BaseModel):
    id: int
    at: datetime
    kind: str
    booking_id: int | None
    text: str
    action: NoticeAction | None
    action_expires_at: datetime | None
    acted_at: datetime | None
    read_at: datetime | None


class NoticeActed(BaseModel):
    action: NoticeAction
    booking_id: int


def notice_public(notice: NoticeRecord) -> NoticePublic:
    return NoticePublic(
        id=notice.id,
        at=notice.at,
        kind=notice.kind,
        booking_id=notice.booking_id,
        text=notice.text,
        action=notice.action,
        action_expires_at=notice.action_expires_at,
        acted_at=notice.acted_at,
        read_at=notice.read_at,
    )


@router.get("/me/notices")
def read_my_notices(
    account: AccountDep,
    connection: ConnectionDep,
    limit: Annotated[int, Query(ge=1, le=500, description="newest this many")] = 100,
) -> list[NoticePublic]:
    """The caller's notices, newest first."""
    return [notice_public(notice) for notice in list_notices(connection, account_id=account.id, limit=limit)]


@router.post("/me/notices/{notice_id}/read", status_code=status.HTTP_204_NO_CONTENT)
def mark_read(notice_id: int, account: AccountDep, connection: ConnectionDep, now: BookingNowDep) -> None:
    if not mark_notice_read(connection, account_id=account.id, notice_id=notice_id, now=now):
        raise HTTPException(status_code=404, detail=f"you have no notice {notice_id}")
    connection.commit()


@router.post(
    "/notices/act/{token}",
    responses={
        404: {"description": "no notice has this link"},
        410: {"description": "the link was used or has expired, or its booking moved on"},
    },
)
def act_on_link(token: str, connection: ConnectionDep, now: BookingNowDep) -> NoticeActed:
    """Carry out a notice's one-step action (no login: the link's token is the proof): ``keep`` a booking from
    being released, or ``accept`` a waitlist offer. Recorded in the booking's history as the notice's addressee."""
    acted = act_on_notice(connection, token=token, now=now)
    connection.commit()
    return NoticeActed(action=acted.action, booking_id=acted.booking_id)
