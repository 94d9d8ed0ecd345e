"""What people read about release decisions: notices to organisers and the room panel's warning, in local time.

Times are on the server's clock (the simulated one in a demo) and shown in the belt's time zone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# A Ditel LED board shows 20 characters of printable ASCII; the MQTT board's lines take up to 40 each.
PANEL_TEXT_MAX = 20
PANEL_LINE_MAX = 40


def clock_time(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%H:%M")


def time_span(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """``Fri 27 Nov 10:00-11:00`` (the end's date too when it falls on another day)."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    day = local_start.strftime("%a %d %b")
    until = local_end.strftime("%H:%M") if local_end.date() == local_start.date() else local_end.strftime("%a %H:%M")
    return f"{day} {local_start.strftime('%H:%M')}-{until}"


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} min"


def warning_notice(space_name: str, start: datetime, end: datetime, release_at: datetime, tz: ZoneInfo) -> str:
    return (
        f"Nobody has checked in to your booking of {space_name} ({time_span(start, end, tz)}). It will be released"
        f" at {clock_time(release_at, tz)} unless somebody arrives or you keep it."
    )


def released_notice(
    space_name: str, start: datetime, end: datetime, released_at: datetime, undo_window: timedelta, tz: ZoneInfo
) -> str:
    return (
        f"Your booking of {space_name} ({time_span(start, end, tz)}) was released at {clock_time(released_at, tz)}:"
        f" nobody was seen there. If you arrive within {_minutes(undo_window)}, it is given back to you."
    )


def offer_notice(space_name: str, start: datetime, end: datetime, expires_at: datetime, tz: ZoneInfo) -> str:
    return (
        f"{space_name} has become free for {time_span(start, end, tz)}, which you were waiting for. It is held for"
        f" you until {clock_time(expires_at, tz)}: accept the offer to book it."
    )


def offer_withdrawn_notice(space_name: str, start: datetime, end: datetime, tz: ZoneInfo) -> str:
    return (
        f"The offer of {space_name} for {time_span(start, end, tz)} was withdrawn: the people who had booked it"
        " arrived after all. You are back on the waiting list."
    )


def series_cancelled_notice(space_name: str, strikes: int, cancelled: int) -> str:
    return (
        f"Your recurring booking of {space_name} was cancelled: nobody came to {strikes} occurrences in a row."
        f" {cancelled} future occurrence(s) were cancelled and are free for others."
    )


def panel_warning(space_name: str, release_at: datetime, tz: ZoneInfo) -> tuple[str, list[str]]:
    """(text for a one-line board, lines for a multi-line board) of the release warning."""
    at = clock_time(release_at, tz)
    text = f"RELEASE {at}"[:PANEL_TEXT_MAX]
    lines = [space_name, "Nobody has checked in", f"Released at {at}", "unless somebody arrives"]
    return text, [_ascii(line)[:PANEL_LINE_MAX] for line in lines]


def _ascii(text: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text)
