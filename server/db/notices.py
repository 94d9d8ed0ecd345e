"""Notices to accounts (``notice``): an organiser's release warning with a one-step "keep it", a waitlist offer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg
from psycopg.rows import class_row, tuple_row

from server.auth.secrets import new_token, token_digest
from server.db.booking_events import record_event
from server.db.errors import translated_errors
from server.db.schedule import pull_schedule_forward

NoticeAction = Literal["keep", "accept"]


def create_notice(
    connection: psycopg.Connection,
    *,
    account_id: int,
    at: datetime,
    kind: str,
    text: str,
    booking_id: int | None = None,
    action: NoticeAction | None = None,
    action_expires_at: datetime | None = None,
) -> tuple[int, str | None]:
    """Store a notice in the caller's transaction: (its id, the one-step action token or None).

    The token is returned once (only its digest is stored); ``POST /api/v1/notices/act/{token}`` carries the action
    out without logging in, once, until ``action_expires_at``."""
    token = new_token() if action is not None else None
    with translated_errors("storing a notice"):
        cursor = connection.execute(
            "INSERT INTO notice (account_id, at, kind, booking_id, text, action, action_token_hash, action_expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                account_id,
                at,
                kind,
                booking_id,
                text,
                action,
                None if token is None else token_digest(token),
                action_expires_at,
            ),
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]), token


class NoticeError(Exception):
    """A notice's one-step action could not be carried out; the message says why."""


class UnknownNotice(NoticeError):
    """No notice has that action token (HTTP 404)."""


class NoticeGone(NoticeError):
    """The link was used, has expired, or its booking moved on (HTTP 410)."""


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    id: int
    at: datetime
    kind: str
    booking_id: int | None
    text: str
    action: NoticeAction | None
    action_expires_at: datetime | None
    acted_at: datetime | None
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class ActedNotice:
    """What a one-step link did: ``action`` on ``booking_id``, for ``account_id`` (the notice's addressee)."""

    notice_id: int
    account_id: int
    action: NoticeAction
    booking_id: int


def list_notices(connection: psycopg.Connection, *, account_id: int, limit: int = 100) -> list[NoticeRecord]:
    """The account's notices, newest first."""
    with translated_errors("reading notices"), connection.cursor(row_factory=class_row(NoticeRecord)) as cursor:
        cursor.execute(
            "SELECT id, at, kind, booking_id, text, action, action_expires_at, acted_at, read_at FROM notice"
            " WHERE account_id = %s ORDER BY at DESC, id DESC LIMIT %s",
            (account_id, limit),
        )
        return cursor.fetchall()


def mark_notice_read(connection: psycopg.Connection, *, account_id: int, notice_id: int, now: datetime) -> bool:
    """Mark the account's notice read (once: a second call keeps the first time); False when it has no such notice."""
    with translated_errors("marking a notice read"):
        cursor = connection.execute(
            "UPDATE notice SET read_at = coalesce(read_at, %s) WHERE id = %s AND account_id = %s",
            (now, notice_id, account_id),
        )
    return cursor.rowcount == 1


def act_on_notice(connection: psycopg.Connection, *, token: str, now: datetime) -> ActedNotice:
    """Carry out a notice's one-step action in the caller's transaction: UnknownNotice, or NoticeGone when the link
    was used, has expired, or its booking is no longer in a state the action applies to.

    keep: a confirmed, unreleased booking gets ``kept_at`` (never auto-released). accept: a held waitlist offer
    becomes a confirmed booking (grace counts from now) and its waitlist entry is booked.

    Locks, in this order: the notice, the space's schedule row (via pull_schedule_forward: the scheduler skips a
    locked row, so it cannot be deciding about the booking meanwhile), the booking."""
    with translated_errors("acting on a notice"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT n.id, n.account_id, n.action, n.action_expires_at, n.acted_at, b.id, b.site_id, b.space_id"
            " FROM notice n LEFT JOIN booking b ON b.id = n.booking_id"
            " WHERE n.action_token_hash = %s FOR UPDATE OF n",
            (token_digest(token),),
        )
        row = cursor.fetchone()
    if row is None:
        raise UnknownNotice("no notice has this link")
    notice_id, account_id, action, expires_at, acted_at, booking_id, site_id, space_id = row
    if acted_at is not None:
        raise NoticeGone("this link has been used already")
    if action not in ("keep", "accept") or booking_id is None:
        raise NoticeGone("this notice has no action to carry out")
    if expires_at is not None and expires_at <= now:
        raise NoticeGone(f"this link expired at {expires_at.isoformat()}")
    pull_schedule_forward(connection, site_id=site_id, space_id=space_id, due_at=now)
    if action == "keep":
        _keep(connection, booking_id=booking_id, now=now)
    else:
        _accept(connection, booking_id=booking_id, now=now)
    kind = "kept" if action == "keep" else "accepted"
    record_event(
        connection,
        at=now,
        site_id=site_id,
        space_id=space_id,
        booking_id=booking_id,
        kind=kind,
        actor_id=account_id,
        detail=f"{kind} through the one-step link of notice {notice_id}",
        evidence={"notice_id": notice_id},
    )
    with translated_errors("marking a notice acted on"):
        connection.execute(
            "UPDATE notice SET acted_at = %s, read_at = coalesce(read_at, %s) WHERE id = %s", (now, now, notice_id)
        )
    return ActedNotice(notice_id=notice_id, account_id=account_id, action=action, booking_id=booking_id)


def _locked_booking(connection: psycopg.Connection, booking_id: int) -> tuple[str, datetime | None, datetime | None]:
    """(status, released_at, hold_expires_at) of the booking, locked until the transaction ends."""
    with translated_errors("reading a booking"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT status, released_at, hold_expires_at FROM booking WHERE id = %s FOR UPDATE", (booking_id,)
        )
        row = cursor.fetchone()
    assert row is not None  # notice.booking_id references it
    return row[0], row[1], row[2]


def _keep(connection: psycopg.Connection, *, booking_id: int, now: datetime) -> None:
    status, released_at, _hold_expires_at = _locked_booking(connection, booking_id)
    if status != "confirmed" or released_at is not None:
        raise NoticeGone(f"the booking is {status} now: there is nothing to keep")
    with translated_errors("keeping a booking"):
        connection.execute(
            "UPDATE booking SET kept_at = coalesce(kept_at, %s), updated_at = %s WHERE id = %s",
            (now, now, booking_id),
        )


def _accept(connection: psycopg.Connection, *, booking_id: int, now: datetime) -> None:
    status, _released_at, hold_expires_at = _locked_booking(connection, booking_id)
    if status != "held":
        raise NoticeGone(f"the offer is {status} now and can no longer be accepted")
    if hold_expires_at is not None and hold_expires_at <= now:
        raise NoticeGone(f"the offer expired at {hold_expires_at.isoformat()}")
    with translated_errors("accepting an offer"):
        cursor = connection.execute(
            "UPDATE booking SET status = 'confirmed', confirmed_at = %s, hold_expires_at = NULL, updated_at = %s"
            " WHERE id = %s RETURNING waitlist_id",
            (now, now, booking_id),
        )
        row = cursor.fetchone()
        if row is not None and row[0] is not None:
            connection.execute(
                "UPDATE waitlist_entry SET status = 'booked', updated_at = %s WHERE id = %s", (now, row[0])
            )
