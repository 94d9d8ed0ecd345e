"""When a service's tickets can no longer be served today: no window for it will be open again before its hall
closes (the site file's hours; a window without hours of its own is staffed whenever its space is open).

A window closed for a break inside its hours still counts as coming back; the last window of a service closing
at the end of its hours (or at the hall's lunch closing) does not, and the tickets still waiting then expire.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from devices.site import OpeningHours, ServiceWindow, Site

_SECONDS_PER_MINUTE = 60


def served_again_today(site: Site, service: str, now: datetime, tz: tzinfo) -> bool:
    """Whether a window handling ``service`` is within its hours now, or opens later in the hall's current
    opening interval (the next one when the hall is closed now), on the site-local day of ``now``."""
    local = now.astimezone(tz)
    weekday = local.weekday()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    now_s = (local - midnight).total_seconds()
    for window in site.windows:
        if service not in window.services:
            continue
        hall_close_s = _hall_closes_s(site.space(window.space).hours, weekday, now_s)
        for interval in _window_hours(site, window).intervals_on(weekday):
            start_s = interval.start * _SECONDS_PER_MINUTE
            end_s = interval.end * _SECONDS_PER_MINUTE
            if end_s > now_s and start_s < hall_close_s:
                return True
    return False


def _window_hours(site: Site, window: ServiceWindow) -> OpeningHours:
    return site.window_hours(window.id)


def _hall_closes_s(hours: OpeningHours, weekday: int, now_s: float) -> float:
    """Seconds after local midnight when the hall's interval holding the second before ``now`` ends; when the hall
    was closed then, the end of its next interval that day; ``now_s`` when there is none."""
    just_before = now_s - timedelta(seconds=1).total_seconds()
    later: list[float] = []
    for interval in hours.intervals_on(weekday):
        start_s = interval.start * _SECONDS_PER_MINUTE
        end_s = interval.end * _SECONDS_PER_MINUTE
        if start_s <= just_before < end_s:
            return end_s
        if start_s > just_before:
            later.append(end_s)
    return min(later, default=now_s)
