"""What happens to a booking after it is made, through the API against a real PostgreSQL: check-in and its window,
release_at and "keep it", waitlist offers accepted and declined, releases undone, and waitlist entries.

Held and released bookings are written straight into the database, as the release scheduler leaves them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from server.db.migrate import apply_migrations
from server.db.policies import save_policy
from server.domain.accounts import Role
from server.domain.release_types import PolicyMode, ReleasePolicy
from tests.integration.account_fixtures import bearer, make_account
from tests.integration.booking_fixtures import (
    NOW,
    SITE,
    SPACE,
    FixedClock,
    booking_client,
    count,
    events,
    local,
    slot,
    utc,
)


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


def insert_booking(
    database: str,
    *,
    owner_id: int,
    start: datetime,
    end: datetime,
    status: str,
    released_at: datetime | None = None,
    hold_expires_at: datetime | None = None,
    waitlist_id: int | None = None,
    released_from: int | None = None,
) -> int:
    with psycopg.connect(database) as connection:
        row = connection.execute(
            "INSERT INTO booking (site_id, space_id, during, owner_id, created_by, attendees, status, created_at,"
            " confirmed_at, released_at, hold_expires_at, waitlist_id, released_from, updated_at)"
            " VALUES (%s, %s, tstzrange(%s, %s), %s, %s, 5, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                SITE,
                SPACE,
                start,
                end,
                owner_id,
                owner_id,
                status,
                NOW,
                NOW,
                released_at,
                hold_expires_at,
                waitlist_id,
                released_from,
                NOW,
            ),
        ).fetchone()
        assert row is not None
        if waitlist_id is not None:
            connection.execute(
                "UPDATE waitlist_entry SET status = 'offered', offered_booking_id = %s WHERE id = %s",
                (row[0], waitlist_id),
            )
    return int(row[0])


def released_at_ten_past(database: str, owner_id: int) -> int:
    """A booking of 10:00-11:00 released as a no-show at 10:10."""
    ten_past = local(7, 10, 10)
    return insert_booking(
        database, owner_id=owner_id, start=local(7, 10), end=local(7, 11), status="released", released_at=ten_past
    )


def entry_status(database: str, entry_id: int) -> str:
    with psycopg.connect(database) as connection:
        row = connection.execute("SELECT status FROM waitlist_entry WHERE id = %s", (entry_id,)).fetchone()
    assert row is not None
    return str(row[0])


def join(client: TestClient, token: str, start: datetime, minutes: int = 60) -> int:
    body = slot(start, minutes) | {"min_minutes": 30}
    answer = client.post("/api/v1/waitlist", json=body, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_check_in_opens_before_the_start_and_is_recorded_once(
    client: TestClient, database: str, clock: FixedClock
) -> None:
    owner, token = make_account(database, "wang.fang", Role.RESIDENT)
    booking = client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(token)).json()
    url = f"/api/v1/bookings/{booking['id']}/check-in"
    clock.at = local(7, 9, 40)  # the default policy opens check-in 15 minutes before the start
    early = client.post(url, json={"source": "qr"}, headers=bearer(token))
    assert (early.status_code, early.json()["code"]) == (422, "wrong_status")
    clock.at = local(7, 9, 50)
    checked_in = client.post(url, json={"source": "qr"}, headers=bearer(token))
    assert checked_in.status_code == 200, checked_in.text
    body = checked_in.json()
    assert (body["status"], body["check_in_source"], body["checked_in_at"]) == ("checked_in", "qr", utc(clock.at))
    assert body["release_at"] is None
    assert client.post(url, headers=bearer(token)).json()["checked_in_at"] == utc(local(7, 9, 50))
    assert events(database, booking["id"]) == [("created", owner.id, None), ("checked_in", owner.id, None)]


def test_the_sites_panel_checks_bookings_in(client: TestClient, database: str, clock: FixedClock) -> None:
    owner, token = make_account(database, "wang.fang", Role.RESIDENT)
    panel, panel_token = make_account(database, "panel.complex", Role.SERVICE, site_id=SITE)
    booking_id = client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(token)).json()["id"]
    clock.at = local(7, 10, 2)
    answer = client.post(
        f"/api/v1/bookings/{booking_id}/check-in", json={"source": "panel"}, headers=bearer(panel_token)
    )
    assert answer.json()["status"] == "checked_in"
    assert events(database, booking_id)[-1] == ("checked_in", panel.id, owner.id)


def test_release_at_counts_the_grace_from_the_start_or_a_late_booking_and_keep_clears_it(
    client: TestClient, database: str, clock: FixedClock
) -> None:
    _, token = make_account(database, "wang.fang", Role.RESIDENT)
    ahead = client.post("/api/v1/bookings", json=slot(local(7, 10)), headers=bearer(token)).json()
    assert ahead["release_at"] == utc(local(7, 10, 10))  # default grace: 10 minutes
    clock.at = local(7, 13, 5)
    walk_up = client.post("/api/v1/bookings", json=slot(local(7, 13)), headers=bearer(token)).json()
    assert walk_up["release_at"] == utc(local(7, 13, 15))  # counted from the booking, made after the start
    kept = client.post(f"/api/v1/bookings/{walk_up['id']}/keep", headers=bearer(token)).json()
    assert (kept["kept_at"], kept["release_at"]) == (utc(local(7, 13, 5)), None)


def test_release_at_is_null_when_the_policy_is_off_or_the_booking_exempt(client: TestClient, database: str) -> None:
    _, token = make_account(database, "wang.fang", Role.RESIDENT)
    with psycopg.connect(database) as connection:
        policy = ReleasePolicy(exempt_longer_than=timedelta(hours=1))
        save_policy(connection, site_id=SITE, space_id=SPACE, policy=policy, updated_at=NOW, updated_by=None)
        off = ReleasePolicy(mode=PolicyMode.OFF)
        save_policy(connection, site_id=SITE, space_id="party-school", policy=off, updated_at=NOW, updated_by=None)
    long = client.post("/api/v1/bookings", json=slot(local(7, 13), 120), headers=bearer(token)).json()
    short = client.post("/api/v1/bookings", json=slot(local(7, 15), 60), headers=bearer(token)).json()
    school = client.post("/api/v1/bookings", json=slot(local(7, 10), space="party-school"), headers=bearer(token))
    assert (long["release_at"], short["release_at"]) == (None, utc(local(7, 15, 10)))
    assert school.json()["release_at"] is None


def test_accepting_a_held_offer_confirms_it_and_books_the_waitlist_entry(
    client: TestClient, database: str, clock: FixedClock
) -> None:
    waiting, token = make_account(database, "li.lei", Role.ORGANISER)
    entry_id = join(client, token, local(7, 10))
    hold_id = insert_booking(
        database,
        owner_id=waiting.id,
        start=local(7, 10, 10),
        end=local(7, 11),
        status="held",
        hold_expires_at=local(7, 10, 20),
        waitlist_id=entry_id,
    )
    clock.at = local(7, 10, 12)
    accepted = client.post(f"/api/v1/bookings/{hold_id}/accept", headers=bearer(token))
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["status"], body["hold_expires_at"], body["release_at"]) == ("confirmed", None, utc(local(7, 10, 22)))
    assert entry_status(database, entry_id) == "booked"
    assert events(database, hold_id) == [("accepted", waiting.id, None)]


def test_an_expired_offer_cannot_be_accepted(client: TestClient, database: str, clock: FixedClock) -> None:
    waiting, token = make_account(database, "li.lei", Role.ORGANISER)
    hold_id = insert_booking(
        database,
        owner_id=waiting.id,
        start=local(7, 10, 10),
        end=local(7, 11),
        status="held",
        hold_expires_at=local(7, 10, 20),
    )
    clock.at = local(7, 10, 20)
    answer = client.post(f"/api/v1/bookings/{hold_id}/accept", headers=bearer(token))
    assert (answer.status_code, answer.json()["code"]) == (422, "wrong_status")


def test_declining_an_offer_passes_the_time_to_the_next_one_waiting(
    client: TestClient, database: str, clock: FixedClock
) -> None:
    first, first_token = make_account(database, "li.lei", Role.ORGANISER)
    second, second_token = make_account(database, "zhao.min", Role.ORGANISER)
    first_entry = join(client, first_token, local(7, 10))
    second_entry = join(client, second_token, local(7, 10))
    hold_id = insert_booking(
        database,
        owner_id=first.id,
        start=local(7, 10, 10),
        end=local(7, 11),
        status="held",
        hold_expires_at=local(7, 10, 20),
        waitlist_id=first_entry,
    )
    clock.at = local(7, 10, 12)
    declined = client.post(f"/api/v1/bookings/{hold_id}/decline", headers=bearer(first_token))
    assert (declined.status_code, declined.json()["status"]) == (200, "expired")
    assert entry_status(database, first_entry) == "expired"
    assert entry_status(database, second_entry) == "offered"
    offers = client.get("/api/v1/bookings", params={"status": "held"}, headers=bearer(second_token)).json()
    assert [(o["owner"]["id"], o["start"], o["end"]) for o in offers] == [
        (second.id, utc(local(7, 10, 12)), utc(local(7, 11)))
    ]


def test_an_undo_restores_a_released_booking_and_withdraws_the_offer_on_its_slot(
    client: TestClient, database: str, clock: FixedClock
) -> None:
    owner, token = make_account(database, "wang.fang", Role.RESIDENT)
    waiting, waiting_token = make_account(database, "li.lei", Role.ORGANISER)
    entry_id = join(client, waiting_token, local(7, 10))
    released_id = released_at_ten_past(database, owner.id)
    hold_id = insert_booking(
        database,
        owner_id=waiting.id,
        start=local(7, 10, 10),
        end=local(7, 11),
        status="held",
        hold_expires_at=local(7, 10, 20),
        waitlist_id=entry_id,
        released_from=released_id,
    )
    clock.at = local(7, 10, 15)
    undone = client.post(f"/api/v1/bookings/{released_id}/undo", headers=bearer(token))
    assert undone.status_code == 200, undone.text
    body = undone.json()
    assert (body["status"], body["released_at"], body["release_at"]) == ("confirmed", None, utc(local(7, 10, 25)))
    assert count(database, "SELECT count(*) FROM booking WHERE id = %s AND status = 'withdrawn'", hold_id) == 1
    assert entry_status(database, entry_id) == "waiting"
    assert events(database, released_id) == [("undone", owner.id, None)]
    assert [kind for kind, _, _ in events(database, hold_id)] == ["hold_withdrawn"]


def test_an_undo_is_refused_when_an_accepted_booking_took_the_slot(
    client: TestClient, database: str, clock: FixedClock
) -> None:
    owner, token = make_account(database, "wang.fang", Role.RESIDENT)
    taker, _ = make_account(database, "li.lei", Role.ORGANISER)
    released_id = released_at_ten_past(database, owner.id)
    insert_booking(database, owner_id=taker.id, start=local(7, 10, 15), end=local(7, 11), status="confirmed")
    clock.at = local(7, 10, 20)
    answer = client.post(f"/api/v1/bookings/{released_id}/undo", headers=bearer(token))
    assert (answer.status_code, answer.json()["code"]) == (409, "slot_taken")
    assert answer.json()["conflict"] == {"start": utc(local(7, 10, 15)), "end": utc(local(7, 11))}
    assert count(database, "SELECT count(*) FROM booking WHERE id = %s AND status = 'released'", released_id) == 1
    assert events(database, released_id) == []


def test_an_undo_after_the_window_is_refused(client: TestClient, database: str, clock: FixedClock) -> None:
    owner, token = make_account(database, "wang.fang", Role.RESIDENT)
    released_id = released_at_ten_past(database, owner.id)
    clock.at = local(7, 10, 25)  # the default undo window is 15 minutes
    answer = client.post(f"/api/v1/bookings/{released_id}/undo", headers=bearer(token))
    assert (answer.status_code, answer.json()["code"]) == (422, "wrong_status")


def test_waitlist_entries_are_their_owners_and_staffs_to_see_and_leave(client: TestClient, database: str) -> None:
    owner, token = make_account(database, "li.lei", Role.ORGANISER)
    _, other_token = make_account(database, "zhao.min", Role.RESIDENT)
    staff, staff_token = make_account(database, "desk.zhang", Role.STAFF)
    entry_id = join(client, token, local(7, 10))
    for_her = slot(local(7, 14)) | {"owner": "zhao.min"}
    assert client.post("/api/v1/waitlist", json=for_her, headers=bearer(staff_token)).status_code == 201
    own = client.get("/api/v1/waitlist", headers=bearer(token)).json()
    assert [(e["id"], e["status"], e["min_minutes"]) for e in own] == [(entry_id, "waiting", 30)]
    everybody = client.get("/api/v1/waitlist", params={"site": SITE, "space": SPACE}, headers=bearer(staff_token))
    assert len(everybody.json()) == 2
    refused = client.delete(f"/api/v1/waitlist/{entry_id}", headers=bearer(other_token))
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    left = client.delete(f"/api/v1/waitlist/{entry_id}", headers=bearer(token))
    assert left.json()["status"] == "cancelled"
    with psycopg.connect(database) as connection:
        trail = connection.execute(
            "SELECT kind, actor_id FROM booking_event WHERE evidence->>'waitlist_id' = %s ORDER BY id", (str(entry_id),)
        ).fetchall()
    assert trail == [("waitlist_joined", owner.id), ("waitlist_left", owner.id)]
    assert staff.id != owner.id


def test_a_waitlist_entry_shorter_than_its_minimum_is_refused(client: TestClient, database: str) -> None:
    _, token = make_account(database, "li.lei", Role.ORGANISER)
    body = slot(local(7, 10), 20) | {"min_minutes": 30}
    answer = client.post("/api/v1/waitlist", json=body, headers=bearer(token))
    assert (answer.status_code, answer.json()["code"]) == (422, "bad_range")
