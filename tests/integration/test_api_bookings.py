"""The bookings API against a real PostgreSQL: no double booking under 50 concurrent requests, per-object
authorization on every route that takes a booking id, acting for others, quotas, recurring series, idempotent
retries, availability, and the booking rules' codes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from server.api.booking_deps import booking_limits
from server.db.booking_create import BookingRequest, create_bookings
from server.db.bookings import SlotTaken
from server.db.migrate import apply_migrations
from server.domain.accounts import Account, Role
from tests.integration.account_fixtures import api_settings, bearer, make_account
from tests.integration.booking_fixtures import (
    BELT,
    NOW,
    SITE,
    SPACE,
    FixedClock,
    booking_client,
    booking_row,
    count,
    events,
    local,
    slot,
    utc,
)

CONCURRENT = 50


@pytest.fixture
def database(pg_dsn: str) -> str:
    apply_migrations(pg_dsn)
    return pg_dsn


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def client(database: str, clock: FixedClock) -> Iterator[TestClient]:
    with booking_client(database, clock) as started:
        yield started


def test_fifty_concurrent_requests_for_one_slot_make_exactly_one_booking(client: TestClient, database: str) -> None:
    tokens = [make_account(database, f"resident-{n}", Role.RESIDENT)[1] for n in range(CONCURRENT)]
    barrier = threading.Barrier(CONCURRENT)
    body = slot(local(7, 10))

    def book(token: str) -> int:
        barrier.wait()
        return client.post("/api/v1/bookings", json=body, headers=bearer(token)).status_code

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        statuses = Counter(pool.map(book, tokens))
    assert statuses == {201: 1, 409: CONCURRENT - 1}
    assert count(database, "SELECT count(*) FROM booking") == 1


def test_fifty_concurrent_repository_calls_on_their_own_connections_make_one_booking(database: str) -> None:
    owners = [make_account(database, f"organiser-{n}", Role.ORGANISER)[0] for n in range(CONCURRENT)]
    space = BELT.site(SITE).space(SPACE)
    request = BookingRequest(SITE, space, BELT.tz, local(7, 14), local(7, 16), attendees=20)
    limits = booking_limits(api_settings(database))
    barrier = threading.Barrier(CONCURRENT)

    def book(owner: Account) -> tuple[str, object]:
        with psycopg.connect(database) as connection:
            barrier.wait()
            try:
                create_bookings(connection, request=request, owner=owner, actor=owner, limits=limits, now=NOW)
            except SlotTaken as taken:
                return "taken", (taken.start, taken.end)
            return "booked", None

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        outcomes = list(pool.map(book, owners))
    assert Counter(outcome for outcome, _ in outcomes) == {"booked": 1, "taken": CONCURRENT - 1}
    # Every refusal names the booking in the way.
    assert {conflict for outcome, conflict in outcomes if outcome == "taken"} == {(local(7, 14), local(7, 16))}
    assert count(database, "SELECT count(*) FROM booking WHERE status = 'confirmed'") == 1


def booking_id_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route of the app that takes a booking id, from the app's own OpenAPI description
    (FastAPI's public list of its routes, included routers and all)."""
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(
        (method.upper(), path) for path, operations in paths.items() if "{booking_id}" in path for method in operations
    )


def test_every_route_with_a_booking_id_refuses_another_residents_token_and_changes_nothing(
    client: TestClient, database: str
) -> None:
    _, owner_token = make_account(database, "wang.fang", Role.RESIDENT)
    _, other_token = make_account(database, "li.lei", Role.RESIDENT)
    created = client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(owner_token))
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    before, trail = booking_row(database, booking_id), events(database, booking_id)
    routes = booking_id_routes(client)
    # The routes the contract names, at least; any added later is covered too.
    assert {path.rsplit("/", 1)[-1] for _, path in routes} >= {
        "{booking_id}",
        "check-in",
        "keep",
        "accept",
        "decline",
        "undo",
        "history",
    }
    assert {method for method, _ in routes} >= {"GET", "PATCH", "DELETE", "POST"}
    for method, path in routes:
        url = path.replace("{booking_id}", str(booking_id))
        answer = client.request(method, url, json={}, headers=bearer(other_token))
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "not_found"
    assert booking_row(database, booking_id) == before
    assert events(database, booking_id) == trail


def test_a_booking_seen_but_not_changeable_answers_403_and_changes_nothing(client: TestClient, database: str) -> None:
    _, owner_token = make_account(database, "wang.fang", Role.RESIDENT)
    _, panel_token = make_account(database, "panel.complex", Role.SERVICE, site_id=SITE)
    _, elsewhere_token = make_account(database, "panel.elsewhere", Role.SERVICE, site_id="enterprise-center")
    booking_id = client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(owner_token)).json()["id"]
    before = booking_row(database, booking_id)
    for method, path in booking_id_routes(client):
        url = path.replace("{booking_id}", str(booking_id))
        assert client.request(method, url, json={}, headers=bearer(elsewhere_token)).status_code == 404, path
        if method == "GET" or path.endswith("/check-in"):
            continue  # the site's panel reads bookings and checks them in
        answer = client.request(method, url, json={}, headers=bearer(panel_token))
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden"), (method, path, answer.text)
    assert booking_row(database, booking_id) == before


def test_staff_acting_for_a_resident_is_recorded_with_on_behalf_of(client: TestClient, database: str) -> None:
    resident, resident_token = make_account(database, "wang.fang", Role.RESIDENT)
    staff, staff_token = make_account(database, "desk.zhang", Role.STAFF)
    created = client.post("/api/v1/bookings", json=slot(local(7, 10), owner="wang.fang"), headers=bearer(staff_token))
    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["owner"] == {"id": resident.id, "login": "wang.fang", "display_name": "Wang.Fang"}
    cancelled = client.delete(f"/api/v1/bookings/{booking['id']}", headers=bearer(staff_token))
    assert cancelled.json()["status"] == "cancelled"
    assert events(database, booking["id"]) == [("created", staff.id, resident.id), ("cancelled", staff.id, resident.id)]
    history = client.get(f"/api/v1/bookings/{booking['id']}/history", headers=bearer(resident_token)).json()
    assert [(h["kind"], h["actor"]["login"], h["on_behalf_of"]["login"]) for h in history] == [
        ("created", "desk.zhang", "wang.fang"),
        ("cancelled", "desk.zhang", "wang.fang"),
    ]
    # The owner's own act has no on_behalf_of.
    own = client.post("/api/v1/bookings", json=slot(local(7, 14)), headers=bearer(resident_token)).json()
    assert events(database, own["id"]) == [("created", resident.id, None)]


def test_only_staff_book_for_somebody_else(client: TestClient, database: str) -> None:
    make_account(database, "wang.fang", Role.RESIDENT)
    _, other_token = make_account(database, "li.lei", Role.RESIDENT)
    answer = client.post("/api/v1/bookings", json=slot(local(7, 10), owner="wang.fang"), headers=bearer(other_token))
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    _, staff_token = make_account(database, "desk.zhang", Role.STAFF)
    answer = client.post("/api/v1/bookings", json=slot(local(7, 10), owner="nobody"), headers=bearer(staff_token))
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    assert count(database, "SELECT count(*) FROM booking") == 0


def test_a_resident_holds_at_most_their_quota_of_future_bookings(client: TestClient, database: str) -> None:
    _, token = make_account(database, "wang.fang", Role.RESIDENT)
    _, staff_token = make_account(database, "desk.zhang", Role.STAFF)
    ids = []
    for hour in (9, 10, 13, 14):  # resident_max_active_bookings = 4
        answer = client.post("/api/v1/bookings", json=slot(local(7, hour)), headers=bearer(token))
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    refused = client.post("/api/v1/bookings", json=slot(local(7, 15)), headers=bearer(token))
    assert (refused.status_code, refused.json()["code"]) == (422, "quota_exceeded")
    # The quota is the owner's: staff booking for the resident meet it too.
    for_her = client.post("/api/v1/bookings", json=slot(local(7, 15), owner="wang.fang"), headers=bearer(staff_token))
    assert (for_her.status_code, for_her.json()["code"]) == (422, "quota_exceeded")
    assert client.delete(f"/api/v1/bookings/{ids[0]}", headers=bearer(token)).status_code == 200
    assert client.post("/api/v1/bookings", json=slot(local(7, 15)), headers=bearer(token)).status_code == 201


def weekly(start_day: int, *, count: int, skip: bool = False) -> dict[str, object]:
    return slot(local(start_day, 19), 90, recurrence={"freq": "weekly", "count": count}, skip_conflicts=skip)


def test_a_recurring_series_with_a_taken_occurrence_books_nothing_unless_asked_to_skip(
    client: TestClient, database: str
) -> None:
    _, organiser_token = make_account(database, "branch.secretary", Role.ORGANISER)
    _, resident_token = make_account(database, "wang.fang", Role.RESIDENT)
    taken = client.post("/api/v1/bookings", json=slot(local(21, 20)), headers=bearer(resident_token))
    assert taken.status_code == 201
    refused = client.post("/api/v1/bookings", json=weekly(7, count=4), headers=bearer(organiser_token))
    assert refused.status_code == 409
    assert refused.json()["code"] == "slot_taken"
    assert refused.json()["conflict"] == {"start": utc(local(21, 20)), "end": utc(local(21, 21))}
    assert count(database, "SELECT count(*) FROM booking") == 1  # all or nothing
    assert count(database, "SELECT count(*) FROM booking_series") == 0

    series = client.post("/api/v1/bookings", json=weekly(7, count=4, skip=True), headers=bearer(organiser_token))
    assert series.status_code == 201, series.text
    body = series.json()
    assert [b["start"] for b in body["bookings"]] == [utc(local(day, 19)) for day in (7, 14, 28)]
    assert {b["series_id"] for b in body["bookings"]} == {body["series_id"]}
    assert body["skipped"] == [{"start": utc(local(21, 19)), "end": utc(local(21, 20, 30)), "code": "slot_taken"}]


def test_residents_do_not_book_recurring_series(client: TestClient, database: str) -> None:
    _, token = make_account(database, "wang.fang", Role.RESIDENT)
    answer = client.post("/api/v1/bookings", json=weekly(7, count=2), headers=bearer(token))
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")


def test_the_same_external_ref_again_answers_the_existing_booking(client: TestClient, database: str) -> None:
    _, token = make_account(database, "branch.secretary", Role.ORGANISER)
    body = slot(local(7, 10), external_ref="truth-0042")
    first = client.post("/api/v1/bookings", json=body, headers=bearer(token))
    again = client.post("/api/v1/bookings", json=body, headers=bearer(token))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert count(database, "SELECT count(*) FROM booking") == 1


def test_availability_shows_opening_and_busy_time_with_owners_for_staff_only(client: TestClient, database: str) -> None:
    _, resident_token = make_account(database, "wang.fang", Role.RESIDENT)
    _, staff_token = make_account(database, "desk.zhang", Role.STAFF)
    client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(resident_token))
    url = f"/api/v1/sites/{SITE}/spaces/{SPACE}/availability"
    window = {"from": utc(local(7, 0)), "to": utc(local(8, 0))}
    seen = client.get(url, params=window, headers=bearer(resident_token)).json()
    assert seen["opening"] == [
        {"start": utc(local(7, 9)), "end": utc(local(7, 12))},
        {"start": utc(local(7, 13)), "end": utc(local(7, 21))},
    ]
    assert seen["busy"] == [
        {"start": utc(local(7, 10)), "end": utc(local(7, 11)), "status": "confirmed", "owner": None}
    ]
    by_staff = client.get(url, params=window, headers=bearer(staff_token)).json()
    assert by_staff["busy"][0]["owner"]["login"] == "wang.fang"


def test_cancelling_frees_the_slot_for_somebody_else(client: TestClient, database: str) -> None:
    _, first_token = make_account(database, "wang.fang", Role.RESIDENT)
    _, second_token = make_account(database, "li.lei", Role.RESIDENT)
    booking_id = client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(first_token)).json()["id"]
    assert client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(second_token)).status_code == 409
    cancelled = client.delete(f"/api/v1/bookings/{booking_id}", headers=bearer(first_token))
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(second_token)).status_code == 201
    again = client.delete(f"/api/v1/bookings/{booking_id}", headers=bearer(first_token))
    assert (again.status_code, again.json()["code"]) == (422, "wrong_status")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (slot(local(7, 11, 30)), "outside_hours"),  # over the lunch closure
        (slot(local(7, 10), attendees=41), "over_capacity"),
        (slot(local(7, 10, 10)), "off_grid"),
        (slot(local(7, 10), space="lobby"), "not_bookable"),
        (slot(local(7, 10), 0), "bad_range"),
        (slot(NOW - timedelta(hours=1)), "in_past"),
        (slot(local(7, 9), 9 * 60), "too_long"),
        (slot(local(7, 10) + timedelta(days=35)), "too_far_ahead"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_broken_booking_rule_answers_422_with_its_code(
    client: TestClient, database: str, body: dict[str, object], code: str
) -> None:
    _, token = make_account(database, "wang.fang", Role.RESIDENT)
    answer = client.post("/api/v1/bookings", json=body, headers=bearer(token))
    assert (answer.status_code, answer.json()["code"]) == (422, code), answer.text
    assert answer.json()["detail"]


def test_a_change_is_checked_again_and_a_taken_slot_refused(client: TestClient, database: str) -> None:
    owner, token = make_account(database, "wang.fang", Role.RESIDENT)
    _, other_token = make_account(database, "li.lei", Role.RESIDENT)
    booking_id = client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(token)).json()["id"]
    client.post("/api/v1/bookings", json=slot(local(7, 14)), headers=bearer(other_token))
    url = f"/api/v1/bookings/{booking_id}"
    moved = client.patch(url, json={"start": utc(local(7, 15)), "end": utc(local(7, 16))}, headers=bearer(token))
    assert moved.status_code == 200, moved.text
    assert (moved.json()["start"], moved.json()["end"]) == (utc(local(7, 15)), utc(local(7, 16)))
    taken = client.patch(url, json={"start": utc(local(7, 14, 30))}, headers=bearer(token))
    assert (taken.status_code, taken.json()["code"]) == (409, "slot_taken")
    outside = client.patch(url, json={"end": utc(local(7, 22))}, headers=bearer(token))
    assert (outside.status_code, outside.json()["code"]) == (422, "outside_hours")
    assert events(database, booking_id) == [("created", owner.id, None), ("changed", owner.id, None)]


def test_listing_gives_residents_their_own_and_staff_everybodys(client: TestClient, database: str) -> None:
    _, first_token = make_account(database, "wang.fang", Role.RESIDENT)
    _, second_token = make_account(database, "li.lei", Role.RESIDENT)
    _, staff_token = make_account(database, "desk.zhang", Role.STAFF)
    client.post("/api/v1/bookings", json=slot(local(7, 14)), headers=bearer(first_token))
    client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(second_token))
    own = client.get("/api/v1/bookings", headers=bearer(first_token)).json()
    assert [b["owner"]["login"] for b in own] == ["wang.fang"]
    everybody = client.get("/api/v1/bookings", params={"site": SITE}, headers=bearer(staff_token)).json()
    assert [b["owner"]["login"] for b in everybody] == ["li.lei", "wang.fang"]  # by start
    filtered = client.get("/api/v1/bookings", params={"owner": "li.lei"}, headers=bearer(staff_token)).json()
    assert [b["owner"]["login"] for b in filtered] == ["li.lei"]
    snooping = client.get("/api/v1/bookings", params={"owner": "li.lei"}, headers=bearer(first_token))
    assert snooping.status_code == 403
