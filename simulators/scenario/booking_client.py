"""The scenario's bookings entered through the bookings API before its day starts, on a clock shared with the server.

Given an API (``--api URL --api-token-file FILE --clock-file FILE``), the scenario, once its devices are up:

1. waits for the API (``GET /api/v1/health``, up to a minute);
2. writes the clock anchor (devices/clock_anchor.py): the server's clock shows the scenario's start at the wall
   instant ``lead_in_s`` from now and runs at the scenario's speed before and after it, so while the bookings are
   entered it is still before the day and none of them is in the past;
3. enters every planned booking for its organiser (one organiser account per kind and card, created as needed) and,
   for a seeded third of them, a competing organiser who asks for the same slot, is refused it and joins its
   waitlist;
4. starts the scenario clock at the anchor's instant.

The admin token acts for the organisers (``owner``). A request that fails is logged and counted; the day goes on.
Entering a day twice creates nothing new (simulators/scenario/booking_entry.py). Plain HTTP (httpx): the simulators
never import the server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from devices.clock_anchor import ClockAnchor, write_clock_anchor
from simulators.scenario.booking_entry import BookingEntry, EntryReport, bookings_to_enter, competitors, detail
from simulators.scenario.errors import ScenarioError
from simulators.scenario.plan import ScenarioPlan

log = logging.getLogger(__name__)

API_WAIT_S = 60.0
API_POLL_S = 0.25
REQUEST_TIMEOUT_S = 10.0
ACTING_ROLES = frozenset({"staff", "admin"})  # roles that may book for an organiser


@dataclass(frozen=True, slots=True)
class BookingApi:
    """Where the bookings go and how the server's clock follows the scenario's."""

    url: str
    token: str
    clock_file: Path


class ApiUnavailable(RuntimeError):
    """The API did not answer in time, or the token cannot book for others."""


def wait_for_api(client: httpx.Client, *, timeout_s: float, stop: threading.Event) -> None:
    """Return once the API answers with its database reachable; ApiUnavailable after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while not stop.is_set():
        try:
            response = client.get("/api/v1/health")
            # 503 while the ingest connects is fine: bookings need the database only.
            body = response.json() if response.status_code in (200, 503) else {}
            if response.status_code == 200 or not str(body.get("database", "unreachable")).startswith("unreachable"):
                return
            last = f"HTTP {response.status_code}: {body.get('database', response.text[:200])}"
        except (httpx.HTTPError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            break
        stop.wait(API_POLL_S)
    if stop.is_set():
        raise ApiUnavailable("stopped while waiting for the API")
    raise ApiUnavailable(f"the API at {client.base_url} did not answer in {timeout_s:.0f} s ({last})")


def check_acting_account(client: httpx.Client) -> None:
    """ApiUnavailable unless the token is of staff or an administrator (who may book for organisers)."""
    try:
        response = client.get("/api/v1/me")
    except httpx.HTTPError as exc:
        raise ApiUnavailable(f"GET /api/v1/me: {exc}") from exc
    if response.status_code != 200:
        raise ApiUnavailable(f"the API refused the token: HTTP {response.status_code} {detail(response)}")
    try:
        role = response.json().get("role")
    except (ValueError, AttributeError):
        role = None
    if role not in ACTING_ROLES:
        raise ApiUnavailable(f"the token's account is a {role}; booking for organisers needs staff or an admin")


def open_api_client(api: BookingApi, *, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=api.url,
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=REQUEST_TIMEOUT_S,
        transport=transport,
    )


def start_day_through_api(
    plan: ScenarioPlan,
    api: BookingApi,
    *,
    day_start: datetime,
    speed: float,
    until: datetime | None,
    lead_in_s: float,
    stop: threading.Event,
    monotonic: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    transport: httpx.BaseTransport | None = None,
    api_wait_s: float = API_WAIT_S,
) -> tuple[float, EntryReport]:
    """Steps 1-3 of the module's description; the ``monotonic()`` instant the day starts, and what was entered.

    A missing API or a token that cannot act for organisers is logged and the day starts without its bookings;
    ScenarioError when the clock anchor cannot be written."""
    report = EntryReport()
    with open_api_client(api, transport=transport) as client:
        try:
            wait_for_api(client, timeout_s=api_wait_s, stop=stop)
            reachable = True
        except ApiUnavailable as exc:
            log.error("booking api: %s; the day runs without its bookings", exc)
            reachable = False
        origin = monotonic() + lead_in_s
        wall_start = wall_clock() + timedelta(seconds=lead_in_s)
        anchor = ClockAnchor(simulated_start=day_start, wall_start=wall_start, speed=speed)
        try:
            write_clock_anchor(api.clock_file, anchor)
        except OSError as exc:
            raise ScenarioError(f"cannot write the clock anchor to {api.clock_file}: {exc}") from exc
        log.info("booking api: clock anchor written to %s: %s at %s", api.clock_file, day_start, wall_start)
        if not reachable or stop.is_set():
            return origin, report
        try:
            check_acting_account(client)
        except ApiUnavailable as exc:
            log.error("booking api: %s; the day runs without its bookings", exc)
            return origin, report
        chosen = bookings_to_enter(plan, day_start=day_start, until=until)
        report.skipped = len(plan.bookings) - len(chosen)
        BookingEntry(client, report).enter_all(chosen, competitors(plan))
    late_s = monotonic() - origin
    if late_s > 0:
        log.warning("booking api: the day started %.1f s before its bookings were all entered; raise --lead-in", late_s)
    log.info(
        "booking api: %d bookings entered (%d already there), %d organisers created, %d competitors waitlisted "
        "(%d already), %d skipped, %d failed",
        report.bookings_created,
        report.bookings_existing,
        report.accounts_created,
        report.waitlist_joined,
        report.waitlist_existing,
        report.skipped,
        report.failures,
    )
    return origin, report
