"""A scenario's ground truth (``smartcomplex.truth/v1``, written by simulators/scenario/truth.py) as the scorers
need it: the bookings and what really happened, and each space's true headcount over the run.

The server does not import the simulators: the JSON document is the contract. Only the parts scoring uses are read
and checked; a document that lacks them or holds them malformed is a :class:`TruthError` naming the place.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TRUTH_SCHEMA = "smartcomplex.truth/v1"
OUTCOMES = frozenset({"attended", "late", "no_show", "ended_early"})


class TruthError(ValueError):
    """A truth file that cannot be read, or is not a valid smartcomplex.truth/v1 document."""


@dataclass(frozen=True, slots=True)
class TruthBooking:
    """A planned booking and what its people did. ``arrived_at`` / ``emptied_at``: None when it did not happen
    before the run's end (or never: a no-show)."""

    id: str
    site: str
    space: str
    start: datetime
    end: datetime
    outcome: str
    arrived_at: datetime | None
    emptied_at: datetime | None


@dataclass(frozen=True, slots=True)
class Headcount:
    """A space's true count: ``people[i]`` from ``changes[i]`` until the next change."""

    changes: tuple[datetime, ...]
    people: tuple[int, ...]

    def at(self, instant: datetime) -> int:
        index = bisect.bisect_right(self.changes, instant) - 1
        return self.people[index] if index >= 0 else 0

    def occupied_since(self, instant: datetime) -> datetime | None:
        """Since when the space has had people without a break at ``instant``; None when it is empty then."""
        index = bisect.bisect_right(self.changes, instant) - 1
        if index < 0 or self.people[index] == 0:
            return None
        while index > 0 and self.people[index - 1] > 0:
            index -= 1
        return self.changes[index]


@dataclass(frozen=True, slots=True)
class Truth:
    scenario: str
    seed: int
    begin: datetime
    until: datetime | None  # None: the whole planned day
    sites: tuple[str, ...]
    bookable_spaces: tuple[tuple[str, str], ...]
    bookings: tuple[TruthBooking, ...]
    headcounts: Mapping[tuple[str, str], Headcount]

    def people_at(self, site: str, space: str, at: datetime) -> int:
        headcount = self.headcounts.get((site, space))
        return 0 if headcount is None else headcount.at(at)

    def occupied_since(self, site: str, space: str, at: datetime) -> datetime | None:
        headcount = self.headcounts.get((site, space))
        return None if headcount is None else headcount.occupied_since(at)

    def covers(self, at: datetime) -> bool:
        """Whether the truth knows what happened at ``at`` (it is cut at ``until``)."""
        return self.begin <= at and (self.until is None or at < self.until)


def truth_instant(value: object, where: str) -> datetime:
    """An RFC 3339 instant with a zone, as aware UTC; TruthError naming ``where`` otherwise."""
    if not isinstance(value, str):
        raise TruthError(f"{where}: {value!r} is not an RFC 3339 instant")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TruthError(f"{where}: {value!r} is not an RFC 3339 instant") from None
    if parsed.tzinfo is None:
        raise TruthError(f"{where}: {value!r} has no time zone")
    return parsed.astimezone(UTC)


def _optional_instant(value: object, where: str) -> datetime | None:
    return None if value is None else truth_instant(value, where)


def truth_text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise TruthError(f"{where}.{key}: {value!r} is not a non-empty string")
    return value


def _list(document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    if not isinstance(value, list):
        raise TruthError(f"{key}: not a list")
    return value


def _booking(item: object, where: str) -> TruthBooking:
    if not isinstance(item, dict):
        raise TruthError(f"{where}: not an object")
    outcome = truth_text(item, "outcome", where)
    if outcome not in OUTCOMES:
        raise TruthError(f"{where}.outcome: {outcome!r} is not one of {', '.join(sorted(OUTCOMES))}")
    return TruthBooking(
        id=truth_text(item, "id", where),
        site=truth_text(item, "site", where),
        space=truth_text(item, "space", where),
        start=truth_instant(item.get("start"), f"{where}.start"),
        end=truth_instant(item.get("end"), f"{where}.end"),
        outcome=outcome,
        arrived_at=_optional_instant(item.get("arrived_at"), f"{where}.arrived_at"),
        emptied_at=_optional_instant(item.get("emptied_at"), f"{where}.emptied_at"),
    )


def _headcount(item: Mapping[str, Any], where: str) -> Headcount:
    changes: list[datetime] = []
    people: list[int] = []
    for index, entry in enumerate(item.get("headcount") or []):
        at = f"{where}.headcount[{index}]"
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], int) and entry[1] >= 0):
            raise TruthError(f"{at}: not [instant, people]")
        instant = truth_instant(entry[0], at)
        if changes and instant < changes[-1]:
            raise TruthError(f"{at}: out of order")
        changes.append(instant)
        people.append(entry[1])
    return Headcount(tuple(changes), tuple(people))


def parse_truth(document: object) -> Truth:
    """The scoring view of a truth document; TruthError names what is wrong."""
    if not isinstance(document, dict):
        raise TruthError("not a JSON object")
    if document.get("schema") != TRUTH_SCHEMA:
        raise TruthError(f"schema is {document.get('schema')!r}, not {TRUTH_SCHEMA!r}")
    seed = document.get("seed")
    if not isinstance(seed, int):
        raise TruthError(f"seed: {seed!r} is not an integer")
    headcounts: dict[tuple[str, str], Headcount] = {}
    bookable: list[tuple[str, str]] = []
    for index, item in enumerate(_list(document, "spaces")):
        where = f"spaces[{index}]"
        if not isinstance(item, dict):
            raise TruthError(f"{where}: not an object")
        key = (truth_text(item, "site", where), truth_text(item, "space", where))
        headcounts[key] = _headcount(item, where)
        if item.get("bookable") is True:
            bookable.append(key)
    sites = _list(document, "sites")
    if not all(isinstance(site, str) for site in sites):
        raise TruthError("sites: not a list of site ids")
    return Truth(
        scenario=truth_text(document, "scenario", "truth"),
        seed=seed,
        begin=truth_instant(document.get("from"), "from"),
        until=_optional_instant(document.get("until"), "until"),
        sites=tuple(sites),
        bookable_spaces=tuple(bookable),
        bookings=tuple(_booking(item, f"bookings[{i}]") for i, item in enumerate(_list(document, "bookings"))),
        headcounts=headcounts,
    )


def load_truth_document(path: Path) -> object:
    """The JSON of a truth file; TruthError when it cannot be read or is not JSON (shared by every score)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TruthError(f"cannot read it: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise TruthError(f"not JSON: {exc}") from exc


def read_truth(path: Path) -> Truth:
    """Read and parse a truth file; TruthError when it cannot be read or is not valid."""
    return parse_truth(load_truth_document(path))
