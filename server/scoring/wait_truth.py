"""The tickets of a scenario's ground truth (``smartcomplex.truth/v1``, simulators/scenario/truth.py) as the wait
scoring needs them: which residents took which tickets when, and when a window called them.

The server does not import the simulators: the JSON document is the contract. Only the parts this scoring uses
are read and checked; a document that lacks them or holds them malformed is a :class:`TruthError` naming the place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.scoring.truth import TRUTH_SCHEMA, TruthError, load_truth_document, truth_instant, truth_text

TICKET_OUTCOMES = frozenset({"served", "left", "not_called"})


@dataclass(frozen=True, slots=True)
class TruthTicket:
    """A ticket a resident took. ``called_at``: the first call, None when none came before the run's end."""

    site: str
    number: str
    service: str
    taken_at: datetime
    outcome: str  # served | left | not_called: what the resident did or was about to do
    called_at: datetime | None

    @property
    def wait(self) -> timedelta | None:
        """What the resident lived: from taking the ticket to its call; None when it was not called in the run."""
        return None if self.called_at is None else self.called_at - self.taken_at


@dataclass(frozen=True, slots=True)
class WaitTruth:
    scenario: str
    seed: int
    timezone: ZoneInfo
    day: date  # the local date planned
    begin: datetime
    until: datetime | None  # None: to the end of the planned day
    sites: tuple[str, ...]
    tickets: tuple[TruthTicket, ...]

    @property
    def end(self) -> datetime:
        """The end of the span the truth covers: ``until``, or the local midnight after ``day``."""
        if self.until is not None:
            return self.until
        return datetime.combine(self.day + timedelta(days=1), time(), self.timezone).astimezone(UTC)

    def covers(self, at: datetime) -> bool:
        return self.begin <= at < self.end

    @property
    def local_days(self) -> tuple[date, ...]:
        """The site-local dates the span touches: the days whose ticket numbers belong to the run."""
        first = self.begin.astimezone(self.timezone).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(self.timezone).date()
        return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


def _ticket(item: object, where: str) -> TruthTicket:
    if not isinstance(item, dict):
        raise TruthError(f"{where}: not an object")
    outcome = truth_text(item, "outcome", where)
    if outcome not in TICKET_OUTCOMES:
        raise TruthError(f"{where}.outcome: {outcome!r} is not one of {', '.join(sorted(TICKET_OUTCOMES))}")
    called_at = item.get("called_at")
    return TruthTicket(
        site=truth_text(item, "site", where),
        number=truth_text(item, "ticket", where),
        service=truth_text(item, "service", where),
        taken_at=truth_instant(item.get("taken_at"), f"{where}.taken_at"),
        outcome=outcome,
        called_at=None if called_at is None else truth_instant(called_at, f"{where}.called_at"),
    )


def parse_wait_truth(document: object) -> WaitTruth:
    """The wait scoring's view of a truth document; TruthError names what is wrong."""
    if not isinstance(document, dict):
        raise TruthError("not a JSON object")
    if document.get("schema") != TRUTH_SCHEMA:
        raise TruthError(f"schema is {document.get('schema')!r}, not {TRUTH_SCHEMA!r}")
    seed = document.get("seed")
    if not isinstance(seed, int):
        raise TruthError(f"seed: {seed!r} is not an integer")
    zone_name = truth_text(document, "timezone", "truth")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TruthError(f"timezone: {zone_name!r} is not a known time zone") from None
    try:
        day = date.fromisoformat(truth_text(document, "day", "truth"))
    except ValueError:
        raise TruthError(f"day: {document.get('day')!r} is not a date (YYYY-MM-DD)") from None
    sites = document.get("sites")
    if not isinstance(sites, list) or not all(isinstance(site, str) for site in sites):
        raise TruthError("sites: not a list of site ids")
    tickets = document.get("tickets")
    if not isinstance(tickets, list):
        raise TruthError("tickets: not a list")
    until = document.get("until")
    return WaitTruth(
        scenario=truth_text(document, "scenario", "truth"),
        seed=seed,
        timezone=zone,
        day=day,
        begin=truth_instant(document.get("from"), "from"),
        until=None if until is None else truth_instant(until, "until"),
        sites=tuple(sites),
        tickets=tuple(_ticket(item, f"tickets[{index}]") for index, item in enumerate(tickets)),
    )


def read_wait_truth(path: Path) -> WaitTruth:
    """Read and parse a truth file; TruthError when it cannot be read or is not valid."""
    return parse_wait_truth(load_truth_document(path))
