"""How honest the queue's wait estimates were on a scenario day, and how sound its numbering: the centre's copy of
the site queues (queue_ticket, queue_event; server/db/migrations/0005_queue.sql) scored against the ground truth.
:func:`score_waits` is pure (values in, figures out); :func:`run_score_waits` reads the truth file and the database
for ``smartcomplex score waits``.

Matching, per (site, service): the truth's tickets in ``taken_at`` order with the system's dispenser tickets issued
within the run's span in ``issued_at`` order, the k-th with the k-th (``number_mismatches`` counts pairs whose
numbers differ). The figures (totals, and the same per ``site/service``):

- ``tickets`` (the system's dispenser tickets in the span), ``tickets_in_truth``, ``matched``;
- ``served``: matched truth tickets whose resident was served and called during the run. Their wait is the
  truth's ``called_at - taken_at`` (what the resident lived), within the range shown at issue when
  ``lo - tolerance <= wait <= hi + tolerance``; else ``early`` (before lo) or ``late`` (after hi); a ticket shown no
  estimate counts as ``shown_without_estimate``, never as within. The four add up to ``served``;
  ``served_within_shown_range`` is the within share (null with none served); ``median_range_width_min`` and
  ``median_wait_min`` are over the served tickets (null with none);
- from every ticket record of the run's sites and local days, whatever its source: ``duplicate_numbers`` (numbers
  with more than one ``issued`` event in a day), ``gaps`` (running numbers missing below a prefix's highest in a
  day), ``called_twice`` (tickets called again with no transfer between, which would have sent them to wait again).

``findings`` names every ticket behind a bad figure, so that a failing score says where to look.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from server.db.errors import DatabaseError, translated_errors
from server.scoring.truth import TruthError
from server.scoring.wait_truth import TruthTicket, WaitTruth, read_wait_truth

DISPENSER = "dispenser"
COUNTS = (
    "tickets",
    "tickets_in_truth",
    "matched",
    "number_mismatches",
    "served",
    "shown_without_estimate",
    "early",
    "late",
    "duplicate_numbers",
    "gaps",
    "called_twice",
)
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True)
class SystemTicket:
    """A queue_ticket row: the ticket as the site's agent last reported it, with the range shown at issue
    (seconds; both None: no estimate)."""

    site: str
    day: date
    number: str  # "B007": prefix letter and running number
    service: str
    source: str
    issued_at: datetime
    shown_wait_lo_s: int | None
    shown_wait_hi_s: int | None


@dataclass(frozen=True, slots=True)
class QueueEventRow:
    """A queue_event row of a ticket (``issued``, ``called``, ``transferred`` are the ones read); ``seq`` orders a
    site's events as its agent sent them."""

    site: str
    seq: int
    kind: str
    day: date
    number: str
    service: str


@dataclass(slots=True)
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    within: int = 0
    waits_s: list[float] = field(default_factory=list)
    widths_s: list[float] = field(default_factory=list)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}".removesuffix(".0")


def _median_minutes(seconds: Sequence[float]) -> float | None:
    return None if not seconds else round(statistics.median(seconds) / 60, 2)


def _figures(tallies: Iterable[_Tally]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    within, waits, widths = 0, [], []
    for tally in tallies:
        counts.update(tally.counts)
        within += tally.within
        waits += tally.waits_s
        widths += tally.widths_s
    figures: dict[str, Any] = {name: counts[name] for name in COUNTS}
    figures["served_within_shown_range"] = round(within / counts["served"], 4) if counts["served"] else None
    figures["median_range_width_min"] = _median_minutes(widths)
    figures["median_wait_min"] = _median_minutes(waits)
    return figures


def _score_pair(truth: TruthTicket, system: SystemTicket, tally: _Tally, tolerance_s: float) -> str | None:
    """Count one matched pair; the finding it makes, if any."""
    name = f"{system.site}/{system.number}"
    wait = truth.wait
    if truth.outcome != "served" or wait is None:
        return None
    wait_s = wait.total_seconds()
    tally.counts["served"] += 1
    tally.waits_s.append(wait_s)
    lo, hi = system.shown_wait_lo_s, system.shown_wait_hi_s
    if lo is None or hi is None:
        tally.counts["shown_without_estimate"] += 1
        return f"{name}: waited {_minutes(wait_s)} min, shown no estimate"
    tally.widths_s.append(hi - lo)
    if lo - tolerance_s <= wait_s <= hi + tolerance_s:
        tally.within += 1
        return None
    tally.counts["early" if wait_s < lo - tolerance_s else "late"] += 1
    return f"{name}: waited {_minutes(wait_s)} min, shown {_minutes(lo)}-{_minutes(hi)} min"


def _match_service(
    truth_tickets: Sequence[TruthTicket], system_tickets: Sequence[SystemTicket], tally: _Tally, tolerance_s: float
) -> list[str]:
    """Match one service's tickets the k-th with the k-th and count them; the findings."""
    findings: list[str] = []
    tally.counts["tickets"] += len(system_tickets)
    tally.counts["tickets_in_truth"] += len(truth_tickets)
    for index, (truth, system) in enumerate(zip(truth_tickets, system_tickets, strict=False)):
        tally.counts["matched"] += 1
        if truth.number != system.number:
            tally.counts["number_mismatches"] += 1
            findings.append(
                f"{system.site}/{system.service}: ticket {index + 1} is {system.number}, {truth.number} in the truth"
            )
        finding = _score_pair(truth, system, tally, tolerance_s)
        if finding is not None:
            findings.append(finding)
    matched = min(len(truth_tickets), len(system_tickets))
    unmatched: list[tuple[Sequence[TruthTicket] | Sequence[SystemTicket], str]] = [
        (truth_tickets[matched:], "truth tickets have no system ticket"),
        (system_tickets[matched:], "system tickets have no truth ticket"),
    ]
    for extra, what in unmatched:
        if extra:
            findings.append(f"{extra[0].site}/{extra[0].service}: {len(extra)} {what} (from {extra[0].number})")
    return findings


def _record_findings(
    tickets: Sequence[SystemTicket], events: Sequence[QueueEventRow], tally_of: Callable[[str, str], _Tally]
) -> list[str]:
    """Duplicates, gaps and double calls in the system's records; counted in ``tally_of(site, service)``."""
    findings: list[str] = []
    service_of_prefix: dict[tuple[str, str], str] = {}
    present: defaultdict[tuple[str, date, str], set[int]] = defaultdict(set)
    for site, day, number, service in [(t.site, t.day, t.number, t.service) for t in tickets] + [
        (e.site, e.day, e.number, e.service) for e in events if e.kind == "issued"
    ]:
        service_of_prefix.setdefault((site, number[0]), service)
        present[(site, day, number[0])].add(int(number[1:]))
    issued = Counter((e.site, e.day, e.number) for e in events if e.kind == "issued")
    for (site, day, number), times in sorted(issued.items()):
        if times > 1:
            tally_of(site, service_of_prefix[(site, number[0])]).counts["duplicate_numbers"] += 1
            findings.append(f"{site}/{number} on {day}: issued {times} times")
    for (site, day, prefix), numbers in sorted(present.items()):
        missing = sorted(set(range(1, max(numbers) + 1)) - numbers)
        if missing:
            tally_of(site, service_of_prefix[(site, prefix)]).counts["gaps"] += len(missing)
            shown = ", ".join(f"{prefix}{n:03d}" for n in missing[:10]) + (", ..." if len(missing) > 10 else "")
            findings.append(f"{site} {prefix} on {day}: {len(missing)} numbers missing ({shown})")
    calls: defaultdict[tuple[str, date, str], list[QueueEventRow]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e.site, e.seq)):
        if event.kind in ("called", "transferred"):
            calls[(event.site, event.day, event.number)].append(event)
    for (site, day, number), trail in sorted(calls.items()):
        kinds = [e.kind for e in trail]
        if any(a == b == "called" for a, b in pairwise(kinds)):
            tally_of(site, trail[0].service).counts["called_twice"] += 1
            findings.append(f"{site}/{number} on {day}: called again with no transfer between ({' '.join(kinds)})")
    return findings


def score_waits(
    truth: WaitTruth,
    *,
    tickets: Sequence[SystemTicket],
    events: Sequence[QueueEventRow],
    tolerance: timedelta = timedelta(0),
) -> dict[str, Any]:
    """The figures of the module's description as a JSON-able dict: totals, ``per_service`` and ``findings``.

    ``tickets`` and ``events``: the records of the truth's sites on the run's local days, any source."""
    sites = set(truth.sites)
    tickets = [t for t in tickets if t.site in sites]
    events = [e for e in events if e.site in sites]
    tallies: dict[tuple[str, str], _Tally] = {}

    def tally_of(site: str, service: str) -> _Tally:
        return tallies.setdefault((site, service), _Tally())

    by_truth: defaultdict[tuple[str, str], list[TruthTicket]] = defaultdict(list)
    for ticket in sorted(truth.tickets, key=lambda t: (t.taken_at, t.number)):
        if ticket.site in sites:
            by_truth[(ticket.site, ticket.service)].append(ticket)
    # A transfer may have moved a ticket to another service since: it is matched under the one it was issued for.
    issued_for = {(e.site, e.day, e.number): e.service for e in events if e.kind == "issued"}
    by_system: defaultdict[tuple[str, str], list[SystemTicket]] = defaultdict(list)
    for row in sorted(tickets, key=lambda t: (t.issued_at, t.number)):
        if row.source == DISPENSER and truth.covers(row.issued_at):
            by_system[(row.site, issued_for.get((row.site, row.day, row.number), row.service))].append(row)
    findings: list[str] = []
    tolerance_s = tolerance.total_seconds()
    for key in sorted(by_truth.keys() | by_system.keys()):
        findings += _match_service(by_truth[key], by_system[key], tally_of(*key), tolerance_s)
    findings += _record_findings(tickets, events, tally_of)
    return {
        "scenario": truth.scenario,
        "seed": truth.seed,
        "from": truth.begin.isoformat(),
        "until": None if truth.until is None else truth.until.isoformat(),
        "tolerance_s": tolerance_s,
        **_figures(tallies.values()),
        "per_service": {f"{site}/{service}": _figures([tallies[(site, service)]]) for site, service in sorted(tallies)},
        "findings": findings,
    }


def load_wait_rows(connection: psycopg.Connection, truth: WaitTruth) -> tuple[list[SystemTicket], list[QueueEventRow]]:
    """The ticket records of the truth's sites on the run's local days, and their issue, call and transfer events."""
    sites, days = list(truth.sites), list(truth.local_days)
    with translated_errors("reading the queue records"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            "SELECT site_id, day, number, service_id, source, issued_at, shown_wait_lo_s, shown_wait_hi_s"
            " FROM queue_ticket WHERE site_id = ANY(%s) AND day = ANY(%s)",
            (sites, days),
        )
        tickets = [SystemTicket(*row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT site_id, seq, kind, day, number, service_id FROM queue_event"
            " WHERE site_id = ANY(%s) AND day = ANY(%s) AND kind IN ('issued', 'called', 'transferred')"
            " AND number IS NOT NULL AND service_id IS NOT NULL",
            (sites, days),
        )
        events = [QueueEventRow(*row) for row in cursor.fetchall()]
    return tickets, events


def run_score_waits(truth_path: Path, database_url: str, *, tolerance: timedelta = timedelta(0)) -> int:
    """Print the figures as JSON and return 0; 2 with one line on stderr for a bad truth file or database."""
    try:
        truth = read_wait_truth(truth_path)
    except TruthError as exc:
        print(f"smartcomplex: bad truth file {truth_path}: {exc}", file=sys.stderr)
        return 2
    try:
        with translated_errors("connecting to the database"):
            connection = psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_S)
        with connection:
            tickets, events = load_wait_rows(connection, truth)
    except DatabaseError as exc:
        print(f"smartcomplex: database: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    figures = score_waits(truth, tickets=tickets, events=events, tolerance=tolerance)
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    return 0
