"""The requests that put a scenario's bookings into the bookings API, one booking at a time.

For each booking: its organiser's account (login ``<organiser kind>-<card>``, role organiser; 409 means it exists),
then the booking for that organiser with the truth's booking id as ``external_ref`` (201 new, 200 already there).
For a seeded third of the bookings, a competing organiser of the same kind asks for the same slot, is refused
(409 slot_taken) and joins the slot's waitlist, unless an entry for that slot is there already. Every request is
made by staff or an administrator acting for the organiser (``owner``). A request that fails is logged and counted,
and the next one is made.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from devices.timestamps import utc_text
from simulators.scenario.bookings import Booking
from simulators.scenario.plan import ScenarioPlan

log = logging.getLogger(__name__)

# The share of bookings whose slot a second organiser also wants. Drawn from the plan's seed alone, never from the
# outcome, so waitlists meet no-shows, late arrivals and attended bookings alike.
COMPETING_SHARE = 1 / 3
# A competitor takes what is left of a released slot: a no-show is released 10 minutes into its booking under the
# default policy, and the shortest bookings last 30 minutes, so 15 minutes keeps every released slot worth offering.
WAITLIST_MIN_MINUTES = 15


def organiser_login(kind: str, card: int) -> str:
    """The organiser's login: their kind and card number, e.g. ``party-branch-123456``."""
    return f"{kind}-{card}"


def competitors(plan: ScenarioPlan) -> dict[str, str]:
    """Booking id → the login of the organiser who wants the same slot, for a seeded third of the plan's bookings.

    Two draws for every booking whatever is chosen, so one booking's competitor never depends on the others'."""
    rng = random.Random(f"{plan.seed}:booking-competitors")
    chosen: dict[str, str] = {}
    for booking in plan.bookings:
        wants = rng.random() < COMPETING_SHARE
        card = rng.randrange(100_000, 1_000_000)
        if card == booking.organiser_card:
            card = card + 1 if card < 999_999 else 100_000
        if wants:
            chosen[booking.id] = organiser_login(booking.organiser_kind, card)
    return chosen


@dataclass(slots=True)
class EntryReport:
    accounts_created: int = 0
    bookings_created: int = 0
    bookings_existing: int = 0
    competitors_refused: int = 0
    waitlist_joined: int = 0
    waitlist_existing: int = 0
    skipped: int = 0  # over before the day starts, or starting after it ends
    failures: int = 0


def detail(response: httpx.Response) -> str:
    """What an error answer says: the contract's ``detail``, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass(slots=True)
class BookingEntry:
    """Enters bookings one at a time through ``client`` (base URL and bearer token set), counting what happened."""

    client: httpx.Client
    report: EntryReport = field(default_factory=EntryReport)
    _accounts: set[str] = field(default_factory=set)
    _waitlists: dict[tuple[str, str], set[tuple[datetime, datetime]]] = field(default_factory=dict)

    def enter_all(self, bookings: Iterable[Booking], competing: dict[str, str]) -> EntryReport:
        for booking in bookings:
            self.enter(booking, competing.get(booking.id))
        return self.report

    def enter(self, booking: Booking, competitor: str | None) -> None:
        owner = organiser_login(booking.organiser_kind, booking.organiser_card)
        if not self._ensure_organiser(owner, booking.organiser_kind):
            return
        body = self._slot(booking) | {"title": _title(booking.organiser_kind), "external_ref": booking.id}
        response = self._request("POST", "/api/v1/bookings", json=body | {"owner": owner})
        if response is None:
            return
        if response.status_code == 201:
            self.report.bookings_created += 1
        elif response.status_code == 200:
            self.report.bookings_existing += 1
        else:
            self._failed(f"booking {booking.id} for {owner}", response)
            return
        if competitor is not None and self._ensure_organiser(competitor, booking.organiser_kind):
            self._compete(booking, competitor)

    def _slot(self, booking: Booking) -> dict[str, Any]:
        attendees = max(1, booking.attendees or 1)
        return {
            "site": booking.site,
            "space": booking.space,
            "start": utc_text(booking.start),
            "end": utc_text(booking.end),
            "attendees": attendees,
        }

    def _ensure_organiser(self, login: str, kind: str) -> bool:
        if login in self._accounts:
            return True
        card = login.rsplit("-", 1)[-1]
        body = {"login": login, "display_name": f"{_title(kind)} (card {card})", "role": "organiser"}
        response = self._request("POST", "/api/v1/accounts", json=body)
        if response is None:
            return False
        if response.status_code == 201:
            self.report.accounts_created += 1
        elif response.status_code != 409:  # 409: the account exists
            self._failed(f"organiser account {login}", response)
            return False
        self._accounts.add(login)
        return True

    def _compete(self, booking: Booking, competitor: str) -> None:
        """The competitor asks for the same slot, is refused (409), and joins the slot's waitlist."""
        response = self._request("POST", "/api/v1/bookings", json=self._slot(booking) | {"owner": competitor})
        if response is None:
            return
        if response.status_code == 409:
            self.report.competitors_refused += 1
        elif response.status_code in (200, 201):
            self.report.failures += 1
            log.warning("booking api: %s got the taken slot of %s; cancelling it", competitor, booking.id)
            self._request("DELETE", f"/api/v1/bookings/{response.json().get('id')}")
            return
        else:
            self._failed(f"competing request of {competitor} for {booking.id}", response)
            return
        wanted = (booking.start, booking.end)
        waiting = self._waitlist(booking.site, booking.space)
        if waiting is None:
            return
        if wanted in waiting:
            self.report.waitlist_existing += 1
            return
        body = self._slot(booking) | {"min_minutes": WAITLIST_MIN_MINUTES, "owner": competitor}
        response = self._request("POST", "/api/v1/waitlist", json=body)
        if response is None:
            return
        if response.status_code != 201:
            self._failed(f"waitlist entry of {competitor} for {booking.id}", response)
            return
        self.report.waitlist_joined += 1
        waiting.add(wanted)

    def _waitlist(self, site: str, space: str) -> set[tuple[datetime, datetime]] | None:
        """The ranges of the space's waitlist entries (any status), read once per space."""
        key = (site, space)
        if key not in self._waitlists:
            response = self._request("GET", "/api/v1/waitlist", params={"site": site, "space": space})
            if response is None:
                return None
            if response.status_code != 200:
                self._failed(f"the waitlist of {site}/{space}", response)
                return None
            self._waitlists[key] = {
                (_instant(entry["start"]), _instant(entry["end"]))
                for entry in response.json()
                if entry["site"] == site and entry["space"] == space
            }
        return self._waitlists[key]

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.report.failures += 1
            log.warning("booking api: %s %s failed: %s", method, path, exc)
            return None

    def _failed(self, what: str, response: httpx.Response) -> None:
        self.report.failures += 1
        log.warning("booking api: %s: HTTP %d %s", what, response.status_code, detail(response))


def _title(kind: str) -> str:
    return kind.replace("-", " ").capitalize()


def bookings_to_enter(plan: ScenarioPlan, *, day_start: datetime, until: datetime | None) -> list[Booking]:
    """The plan's bookings the day will play: not over before it starts, and starting before it ends (a booking
    nobody would come to after the run would only teach the system a false no-show)."""
    return [b for b in plan.bookings if b.end > day_start and (until is None or b.start < until)]
