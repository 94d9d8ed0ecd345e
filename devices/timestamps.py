"""The one clock and the one timestamp spelling every program uses: aware UTC inside, RFC 3339 with ``Z`` outside."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, as an aware UTC datetime (the default clock wherever a clock is injected)."""
    return datetime.now(UTC)


def utc_text(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` and milliseconds: ``2026-11-28T02:00:00.000Z``."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
