"""What a report covers: local dates as typed on the command line, the days they span, the sites asked for, and
the UTC bounds of a local day (the database keeps UTC; people read local dates)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dashboards.reports.errors import ReportInputError

ALL_SITES = "all"
# Exactly YYYY-MM-DD: date.fromisoformat alone also takes 20261101 and 2026-W48-1.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_local_date(text: str, *, option: str) -> date:
    """A local calendar date typed as YYYY-MM-DD; ``option`` names it in the error."""
    if _DATE.fullmatch(text) is None:
        raise ReportInputError(f"{option} {text!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportInputError(f"{option} {text!r} is not a day of the calendar") from None


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """Local dates from ``first`` to ``last``, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ReportInputError(f"--from {self.first} is after --to {self.last}")

    @classmethod
    def parse(cls, first: str, last: str) -> ReportPeriod:
        return cls(parse_local_date(first, option="--from"), parse_local_date(last, option="--to"))

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1))

    def __str__(self) -> str:
        return self.first.isoformat() if self.first == self.last else f"{self.first} to {self.last}"


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight starting ``day`` and the next local midnight (23 or 25 hours apart on a
    daylight-saving change). Every time zone in use is a whole number of quarter hours from UTC, so both lie on the
    15-minute grid of occupancy_15m."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportInputError(f"the site catalogue names an unknown time zone {timezone!r}") from None
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return start, end


def parse_site_arguments(values: Sequence[str]) -> tuple[str, ...] | None:
    """Site ids from repeated and comma-separated ``--site`` values, in the order given, each once; None for
    ``all`` (every site)."""
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not ids:
        raise ReportInputError("--site names no site (a site id, a comma list, or 'all')")
    if ALL_SITES in ids:
        return None
    return tuple(dict.fromkeys(ids))


def resolve_sites(requested: tuple[str, ...] | None, catalogue: Mapping[str, bool]) -> tuple[str, ...]:
    """The sites to report on, checked against the site catalogue (site id -> still in the site file). ``all`` is
    every site of the site file; a site no longer in it may still be named, for its history."""
    if requested is None:
        sites = tuple(sorted(site for site, in_site_file in catalogue.items() if in_site_file))
        if not sites:
            raise ReportInputError("the site catalogue is empty: run `smartcomplex db migrate` (or the server) first")
        return sites
    unknown = [site for site in requested if site not in catalogue]
    if unknown:
        known = ", ".join(sorted(catalogue)) or "none: run `smartcomplex db migrate` first"
        raise ReportInputError(f"no site {', '.join(map(repr, unknown))} in the site catalogue (sites: {known})")
    return requested


def sites_by_timezone(sites: Sequence[str], timezones: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The sites grouped by their time zone (one group for a belt: its site file has one), so that each query of a
    day takes constant bounds."""
    groups: dict[str, list[str]] = {}
    for site in sites:
        groups.setdefault(timezones[site], []).append(site)
    return {zone: tuple(members) for zone, members in groups.items()}


def default_out_dir(requested: tuple[str, ...] | None, period: ReportPeriod) -> Path:
    """``reports/<site or belt>-<from>-<to>``: the belt for ``all``, else the sites named (joined by '+')."""
    label = "belt" if requested is None else "+".join(requested)
    return Path("reports") / f"{label}-{period.first.isoformat()}-{period.last.isoformat()}"
