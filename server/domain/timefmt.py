"""Time spelling for evidence and reasons (the domain's own, so that it needs none of our other packages)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` and seconds: ``2026-11-27T01:10:00Z`` (sub-seconds kept when present)."""
    spec = "seconds" if value.microsecond == 0 else "milliseconds"
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=spec) + "Z"
