"""Domain and service errors → HTTP statuses, in one place (routes raise HTTPException only for their own checks)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from server.commands import (
    BrokerUnavailable,
    CommandError,
    CommandRefused,
    SiteQueueError,
    UnknownCommand,
    UnknownDevice,
)
from server.db.accounts import AccountExists
from server.db.bookings import SlotTaken
from server.db.notices import NoticeGone, UnknownNotice
from server.db.policies import InvalidPolicy
from server.domain.accounts import Forbidden
from server.domain.bookings import BookingRuleError, NotFound
from server.domain.timefmt import utc_text

STATUS_OF_COMMAND_ERROR: Mapping[type[CommandError], int] = {
    UnknownDevice: 404,
    UnknownCommand: 404,
    CommandRefused: 422,
    BrokerUnavailable: 503,
}
# Seconds a client should wait before retrying while the broker is unreachable (its reconnect backoff starts at 1 s).
BROKER_RETRY_AFTER_S = 5


async def _command_error(_request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in STATUS_OF_COMMAND_ERROR.items() if isinstance(exc, kind)), 500)
    headers = {"Retry-After": str(BROKER_RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


# Accounts, notices and release policies: (error, status, the contract's code), answered {"detail", "code"}.
CODED_ACCOUNT_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (AccountExists, 409, "account_exists"),
    (Forbidden, 403, "forbidden"),
    (InvalidPolicy, 422, "bad_policy"),
    (UnknownNotice, 404, "not_found"),
    (NoticeGone, 410, "gone"),
)


async def _coded_account_error(_request: Request, exc: Exception) -> JSONResponse:
    status, code = next(((s, c) for kind, s, c in CODED_ACCOUNT_ERRORS if isinstance(exc, kind)), (500, "internal"))
    return JSONResponse({"detail": str(exc), "code": code}, status_code=status)


# Bookings and waitlists: a broken booking rule (its code names the rule), a taken slot (naming the booking in the
# way), and anything not found or not visible to the caller.
async def _booking_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, BookingRuleError):
        return JSONResponse({"detail": exc.detail, "code": exc.code.value}, status_code=422)
    if isinstance(exc, SlotTaken):
        conflict = {"start": utc_text(exc.start), "end": utc_text(exc.end)}
        return JSONResponse({"detail": str(exc), "code": "slot_taken", "conflict": conflict}, status_code=409)
    return JSONResponse({"detail": str(exc), "code": "not_found"}, status_code=404)


async def _site_queue_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SiteQueueError)
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SiteQueueError, _site_queue_error)
    app.add_exception_handler(CommandError, _command_error)
    for kind, _status, _code in CODED_ACCOUNT_ERRORS:
        app.add_exception_handler(kind, _coded_account_error)
    for booking_error in (BookingRuleError, SlotTaken, NotFound):
        app.add_exception_handler(booking_error, _booking_error)
