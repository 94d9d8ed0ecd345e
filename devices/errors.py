"""The errors ``devices`` raises: one base class, and one rejection type that says why a payload was refused.

Every decoder in this package turns whatever went wrong inside it (``json``, ``UnicodeDecodeError``, pydantic, ...)
into :class:`PayloadRejected`, so a consumer logs and counts one exception type and never dies on a bad message.
"""

from __future__ import annotations

import enum
from typing import Any

# Details end up in logs and in the reject counters' labels; long ones are cut to this many characters.
MAX_DETAIL_CHARS = 200


class WireError(Exception):
    """Base of everything ``devices`` raises on purpose."""


class RejectReason(enum.StrEnum):
    """Why a message was refused; stable strings, used as metric labels and in logs."""

    NOT_JSON = "not_json"
    TOO_LARGE = "too_large"
    SCHEMA = "schema"
    NON_FINITE = "non_finite"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_TOPIC = "bad_topic"
    DEVICE_MISMATCH = "device_mismatch"
    UNKNOWN_DEVICE = "unknown_device"


class PayloadRejected(WireError):
    """A message that cannot be accepted; ``detail`` says what was wrong and where (``data.total: ...``)."""

    reason: RejectReason
    detail: str

    def __init__(self, reason: RejectReason, detail: str) -> None:
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def preview(value: object, limit: int = 40) -> str:
    """A short ``repr`` of a rejected value for a detail message (the payload itself may be 64 KiB)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def schema_rejection(errors: list[Any], *, prefix: str | None = None, whole: str = "(payload)") -> PayloadRejected:
    """PayloadRejected(SCHEMA) for the first of a pydantic ValidationError's ``errors(include_url=False,
    include_input=False)``, naming the field as ``<prefix>.<loc>: <msg>`` (``whole`` when the loc is empty)."""
    first = errors[0]
    where = ".".join([*([prefix] if prefix else []), *(str(part) for part in first["loc"])]) or whole
    return PayloadRejected(RejectReason.SCHEMA, f"{where}: {first['msg']}")
