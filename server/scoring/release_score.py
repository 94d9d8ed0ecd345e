"""How well the release policy did on a scenario day: its decisions (booking rows and their audit trail) scored
against the ground truth. Pure: values in, figures out.

The figures (totals, and the same per space):

- ``no_shows``: the truth's no-shows whose grace (the space's policy) ended before the run did;
  ``released_in_time`` (first enforced release at most start + grace + 1 minute), ``released_late``,
  ``not_released`` (entered, never released), ``no_shows_not_entered`` — the four add up to ``no_shows``;
- ``false_releases``: enforced releases (kept or undone later) of a space the truth had people in at that instant,
  and had had for at least ``latency_allowance_s``; ``releases_as_people_arrived``: those with people who had come
  less than that before. No system sees an arrival before its readings reach it: at 720x the ~60 ms of wall time
  from a sensor through the edge and the brokers to the database is ~45 simulated seconds. The allowance is 0
  unless the caller gives one, which the figures state;
- ``late_arrivals`` (the truth's late bookings whose people came during the run),
  ``late_arrivals_released_then_undone``, ``late_arrivals_lost`` (released, and no undo after it);
- ``undo_restored``: the truth's bookings released and then restored by an undo;
- ``ended_early`` (the truth's early ends during the run) vs ``ended_early_by_system`` (those the system ended);
  ``ended_while_occupied``: early ends decided while the truth had people in the space (with the same allowance);
- ``waitlist_offers``: holds offered (``hold_offered`` events) in the truth's spaces during the run;
- ``bookings_in_truth`` vs ``bookings_entered`` (a booking row whose external_ref is the truth's booking id).

``findings`` lists every booking behind a bad figure, so that a failing score says where to look.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.domain.release_types import ReleasePolicy
from server.scoring.truth import Truth, TruthBooking

RELEASE_TOLERANCE = timedelta(minutes=1)  # the issue: every no-show released within grace + 1 minute
ENFORCE = "enforce"
FIGURES = (
    "bookings_in_truth",
    "bookings_entered",
    "no_shows",
    "released_in_time",
    "released_late",
    "not_released",
    "no_shows_not_entered",
    "false_releases",
    "releases_as_people_arrived",
    "late_arrivals",
    "late_arrivals_released_then_undone",
    "late_arrivals_lost",
    "undo_restored",
    "ended_early",
    "ended_early_by_system",
    "ended_while_occupied",
    "waitlist_offers",
)


@dataclass(frozen=True, slots=True)
class StoredBooking:
    """A booking row: ``external_ref`` is the truth's booking id when the scenario entered it."""

    id: int
    external_ref: str | None
    site: str
    space: str
    status: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An audit-trail row (booking_event); ``at`` on the server's clock, which in a demo is the scenario's."""

    booking_id: int | None
    site: str
    space: str
    at: datetime
    kind: str
    mode: str = ENFORCE


def _space_key(site: str, space: str) -> str:
    return f"{site}/{space}"


def _matched(truth: Truth, bookings: Sequence[StoredBooking]) -> dict[str, StoredBooking]:
    """Truth booking id → its row; of several rows with one ref in its space, a live one, then the oldest."""
    by_ref: dict[str, StoredBooking] = {}
    wanted = {(b.id, b.site, b.space) for b in truth.bookings}
    for row in sorted(bookings, key=lambda r: (r.status == "cancelled", r.id)):
        if row.external_ref is not None and (row.external_ref, row.site, row.space) in wanted:
            by_ref.setdefault(row.external_ref, row)
    return by_ref


def _enforced(events: Sequence[StoredEvent], kind: str) -> list[StoredEvent]:
    return sorted((e for e in events if e.kind == kind and e.mode == ENFORCE), key=lambda e: e.at)


def score_releases(
    truth: Truth,
    *,
    bookings: Sequence[StoredBooking],
    events: Sequence[StoredEvent],
    policies: Mapping[tuple[str, str], ReleasePolicy],
    latency_allowance: timedelta = timedelta(0),
) -> dict[str, Any]:
    """The figures of the module's description as a JSON-able dict: totals, ``per_space`` and ``findings``.

    ``policies``: each bookable space's policy (a missing one: ReleasePolicy's defaults)."""
    rows = _matched(truth, bookings)
    by_booking: dict[int, list[StoredEvent]] = {}
    for event in events:
        if event.booking_id is not None:
            by_booking.setdefault(event.booking_id, []).append(event)
    spaces: dict[tuple[str, str], Counter[str]] = {key: Counter() for key in truth.bookable_spaces}
    findings: list[str] = []

    def count(site: str, space: str, figure: str) -> None:
        spaces.setdefault((site, space), Counter())[figure] += 1

    def policy_of(site: str, space: str) -> ReleasePolicy:
        return policies.get((site, space)) or ReleasePolicy()

    for booking in truth.bookings:
        count(booking.site, booking.space, "bookings_in_truth")
        row = rows.get(booking.id)
        if row is not None:
            count(booking.site, booking.space, "bookings_entered")
        trail = by_booking.get(row.id, []) if row is not None else []
        for figure, finding in _booking_figures(truth, booking, row, trail, policy_of(booking.site, booking.space)):
            count(booking.site, booking.space, figure)
            if finding:
                findings.append(f"{booking.id}: {finding}")

    def occupied_for(event: StoredEvent) -> timedelta | None:
        since = truth.occupied_since(event.site, event.space, event.at) if truth.covers(event.at) else None
        return None if since is None else event.at - since

    for event in _enforced(events, "released"):
        occupied = occupied_for(event)
        if occupied is None:
            continue
        people = truth.people_at(event.site, event.space, event.at)
        what = f"booking {event.booking_id} released at {event.at.isoformat()} with {people} in the room"
        if occupied < latency_allowance:
            count(event.site, event.space, "releases_as_people_arrived")
            findings.append(f"{what}, who came {occupied.total_seconds():.0f} s before (within the allowance)")
        else:
            count(event.site, event.space, "false_releases")
            findings.append(f"{what} for {occupied.total_seconds():.0f} s")
    for event in _enforced(events, "ended_early"):
        occupied = occupied_for(event)
        if occupied is not None and occupied >= latency_allowance:
            count(event.site, event.space, "ended_while_occupied")
            findings.append(f"booking {event.booking_id} ended early at {event.at.isoformat()} with people in the room")
    for event in events:
        if event.kind == "hold_offered" and event.site in truth.sites and truth.covers(event.at):
            count(event.site, event.space, "waitlist_offers")
    per_space = {}
    for (site, space), figures in sorted(spaces.items()):
        policy = policy_of(site, space)
        per_space[_space_key(site, space)] = {
            "mode": policy.mode.value,
            "grace_s": round(policy.grace.total_seconds()),
            **{figure: figures[figure] for figure in FIGURES},
        }
    totals = {figure: sum(figures[figure] for figures in spaces.values()) for figure in FIGURES}
    return {
        "scenario": truth.scenario,
        "seed": truth.seed,
        "from": truth.begin.isoformat(),
        "until": None if truth.until is None else truth.until.isoformat(),
        "latency_allowance_s": latency_allowance.total_seconds(),
        **totals,
        "per_space": per_space,
        "findings": findings,
    }


def _booking_figures(
    truth: Truth,
    booking: TruthBooking,
    row: StoredBooking | None,
    trail: Sequence[StoredEvent],
    policy: ReleasePolicy,
) -> list[tuple[str, str]]:
    """(figure, finding or "") pairs for one truth booking."""
    figures: list[tuple[str, str]] = []
    releases = _enforced(trail, "released")
    undos = _enforced(trail, "undone")
    undone = bool(releases) and any(undo.at >= releases[0].at for undo in undos)
    if undone:
        figures.append(("undo_restored", ""))
    if booking.outcome == "no_show" and truth.covers(booking.start + policy.grace):
        figures.append(("no_shows", ""))
        deadline = booking.start + policy.grace + RELEASE_TOLERANCE
        if row is None:
            figures.append(("no_shows_not_entered", "no-show never entered"))
        elif not releases:
            figures.append(("not_released", f"no-show never released (status {row.status})"))
        elif releases[0].at <= deadline:
            figures.append(("released_in_time", ""))
        else:
            late_s = (releases[0].at - deadline + RELEASE_TOLERANCE).total_seconds()
            figures.append(("released_late", f"no-show released {late_s:.0f} s after its grace"))
    if booking.outcome == "late" and booking.arrived_at is not None:
        figures.append(("late_arrivals", ""))
        if releases and undone:
            figures.append(("late_arrivals_released_then_undone", ""))
        elif releases:
            figures.append(("late_arrivals_lost", "late arrival released and never restored"))
    if booking.outcome == "ended_early" and booking.emptied_at is not None:
        figures.append(("ended_early", ""))
        if _enforced(trail, "ended_early"):
            figures.append(("ended_early_by_system", ""))
    return figures
