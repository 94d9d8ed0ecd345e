"""Notices and their one-step links (keep a booking, accept a waitlist offer), and release policies, through the API
against a real PostgreSQL. Bookings are written straight to the database: the bookings API is tested elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from server.db.migrate import apply_migrations
from server.db.notices import NoticeAction, create_notice
from server.db.policies import load_policy, save_policy
from server.domain.accounts import Account, Role
from server.domain.release_types import PolicyMode, ReleasePolicy
from tests.integration.account_fixtures import api_client, bearer, make_account

SITE, SPACE = "complex", "council-hall"
POLICY_PATH = f"/api/v1/sites/{SITE}/spaces/{SPACE}/policy"


@pytest.fixture
def database(pg_dsn: str) -> str:
    apply_migrations(pg_dsn)
    return pg_dsn


@pytest.fixture
def client(database: str) -> Iterator[TestClient]:
    with api_client(database) as started:
        yield started


@pytest.fixture
def owner(database: str) -> Account:
    return make_account(database, "branch.3", Role.ORGANISER)[0]


def insert_booking(
    database: str, owner: Account, *, status: str, start: datetime, hold_expires_at: datetime | None = None
) -> int:
    with psycopg.connect(database) as connection:
        row = connection.execute(
            "INSERT INTO booking (site_id, space_id, during, owner_id, created_by, attendees, status, created_at,"
            " confirmed_at, released_at, hold_expires_at, updated_at)"
            " VALUES (%s, %s, tstzrange(%s, %s, '[)'), %s, %s, 8, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                SITE,
                SPACE,
                start,
                start + timedelta(hours=1),
                owner.id,
                owner.id,
                status,
                start - timedelta(days=1),
                None if status == "held" else start - timedelta(days=1),
                start + timedelta(minutes=10) if status == "released" else None,
                hold_expires_at,
                start - timedelta(days=1),
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])


def insert_offer(database: str, owner: Account, *, hold_expires_at: datetime) -> tuple[int, int]:
    """A held booking offered to the owner's waitlist entry: (booking id, waitlist entry id)."""
    now = datetime.now(UTC)
    booking_id = insert_booking(database, owner, status="held", start=now, hold_expires_at=hold_expires_at)
    with psycopg.connect(database) as connection:
        row = connection.execute(
            "INSERT INTO waitlist_entry (site_id, space_id, account_id, created_by, wanted, attendees, status,"
            " created_at, offered_booking_id, updated_at)"
            " VALUES (%s, %s, %s, %s, tstzrange(%s, %s, '[)'), 8, 'offered', %s, %s, %s) RETURNING id",
            (SITE, SPACE, owner.id, owner.id, now, now + timedelta(hours=1), now, booking_id, now),
        ).fetchone()
        assert row is not None
        connection.execute("UPDATE booking SET waitlist_id = %s WHERE id = %s", (row[0], booking_id))
    return booking_id, int(row[0])


def notify(
    database: str, owner: Account, booking_id: int, action: NoticeAction, *, expires_in: timedelta, at: datetime
) -> str:
    with psycopg.connect(database) as connection:
        _, token = create_notice(
            connection,
            account_id=owner.id,
            at=at,
            kind="release_warning" if action == "keep" else "waitlist_offer",
            text="your booking",
            booking_id=booking_id,
            action=action,
            action_expires_at=at + expires_in,
        )
    assert token is not None
    return token


def fetch(database: str, query: str, *params: Any) -> tuple[Any, ...]:
    with psycopg.connect(database) as connection:
        row = connection.execute(query, params).fetchone()
    assert row is not None
    return tuple(row)


def test_the_keep_link_keeps_the_booking_once_and_is_gone_after(
    client: TestClient, database: str, owner: Account
) -> None:
    now = datetime.now(UTC)
    booking_id = insert_booking(database, owner, status="confirmed", start=now - timedelta(minutes=6))
    token = notify(database, owner, booking_id, "keep", expires_in=timedelta(minutes=5), at=now)
    answer = client.post(f"/api/v1/notices/act/{token}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"action": "keep", "booking_id": booking_id}
    kept_at, status = fetch(database, "SELECT kept_at, status FROM booking WHERE id = %s", booking_id)
    assert status == "confirmed"
    assert now <= kept_at <= datetime.now(UTC)
    kind, actor, on_behalf_of = fetch(
        database, "SELECT kind, actor_id, on_behalf_of FROM booking_event WHERE booking_id = %s", booking_id
    )
    assert (kind, actor, on_behalf_of) == ("kept", owner.id, None)
    (due_at,) = fetch(database, "SELECT due_at FROM room_schedule WHERE site_id = %s AND space_id = %s", SITE, SPACE)
    assert due_at <= datetime.now(UTC)
    again = client.post(f"/api/v1/notices/act/{token}")
    assert again.status_code == 410
    assert again.json()["code"] == "gone"
    assert "used" in again.json()["detail"]


def test_the_accept_link_turns_the_offer_into_a_confirmed_booking(
    client: TestClient, database: str, owner: Account
) -> None:
    now = datetime.now(UTC)
    booking_id, entry_id = insert_offer(database, owner, hold_expires_at=now + timedelta(minutes=10))
    token = notify(database, owner, booking_id, "accept", expires_in=timedelta(minutes=10), at=now)
    answer = client.post(f"/api/v1/notices/act/{token}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"action": "accept", "booking_id": booking_id}
    status, confirmed_at, hold_expires_at = fetch(
        database, "SELECT status, confirmed_at, hold_expires_at FROM booking WHERE id = %s", booking_id
    )
    assert (status, hold_expires_at) == ("confirmed", None)
    assert now <= confirmed_at <= datetime.now(UTC)  # grace counts from the acceptance
    assert fetch(database, "SELECT status FROM waitlist_entry WHERE id = %s", entry_id) == ("booked",)
    assert fetch(database, "SELECT kind, actor_id FROM booking_event WHERE booking_id = %s", booking_id) == (
        "accepted",
        owner.id,
    )
    assert fetch(database, "SELECT count(*) FROM room_schedule WHERE site_id = %s", SITE) == (1,)
    assert client.post(f"/api/v1/notices/act/{token}").status_code == 410


def test_an_expired_link_is_gone_and_an_unknown_one_not_found(
    client: TestClient, database: str, owner: Account
) -> None:
    now = datetime.now(UTC)
    booking_id = insert_booking(database, owner, status="confirmed", start=now - timedelta(minutes=9))
    token = notify(database, owner, booking_id, "keep", expires_in=timedelta(minutes=5), at=now - timedelta(minutes=6))
    answer = client.post(f"/api/v1/notices/act/{token}")
    assert answer.status_code == 410
    assert "expired" in answer.json()["detail"]
    assert fetch(database, "SELECT kept_at FROM booking WHERE id = %s", booking_id) == (None,)
    unknown = client.post("/api/v1/notices/act/not-a-token-of-anything")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_keeping_a_booking_already_released_is_gone_and_changes_nothing(
    client: TestClient, database: str, owner: Account
) -> None:
    now = datetime.now(UTC)
    booking_id = insert_booking(database, owner, status="released", start=now - timedelta(minutes=11))
    token = notify(database, owner, booking_id, "keep", expires_in=timedelta(minutes=5), at=now - timedelta(minutes=1))
    answer = client.post(f"/api/v1/notices/act/{token}")
    assert answer.status_code == 410
    assert "released" in answer.json()["detail"]
    assert fetch(database, "SELECT kept_at, status FROM booking WHERE id = %s", booking_id) == (None, "released")
    assert fetch(database, "SELECT acted_at FROM notice WHERE booking_id = %s", booking_id) == (None,)
    assert fetch(database, "SELECT count(*) FROM booking_event") == (0,)


def test_accepting_an_offer_whose_hold_ran_out_is_gone(client: TestClient, database: str, owner: Account) -> None:
    now = datetime.now(UTC)
    booking_id, entry_id = insert_offer(database, owner, hold_expires_at=now - timedelta(seconds=1))
    token = notify(database, owner, booking_id, "accept", expires_in=timedelta(minutes=10), at=now)
    answer = client.post(f"/api/v1/notices/act/{token}")
    assert answer.status_code == 410
    assert "expired" in answer.json()["detail"]
    assert fetch(database, "SELECT status FROM booking WHERE id = %s", booking_id) == ("held",)
    assert fetch(database, "SELECT status FROM waitlist_entry WHERE id = %s", entry_id) == ("offered",)


def test_my_notices_come_newest_first_and_can_be_marked_read(client: TestClient, database: str) -> None:
    owner, owner_token = make_account(database, "branch.7", Role.ORGANISER)
    _, token = make_account(database, "someone.else", Role.RESIDENT)
    now = datetime.now(UTC)
    booking_id = insert_booking(database, owner, status="confirmed", start=now + timedelta(hours=1))
    notify(database, owner, booking_id, "keep", expires_in=timedelta(minutes=5), at=now - timedelta(minutes=2))
    notify(database, owner, booking_id, "keep", expires_in=timedelta(minutes=5), at=now - timedelta(minutes=1))
    notices = client.get("/api/v1/me/notices", headers=bearer(owner_token)).json()
    assert [notice["at"] for notice in notices] == sorted((notice["at"] for notice in notices), reverse=True)
    assert len(notices) == 2
    assert notices[0]["action"] == "keep"
    assert notices[0]["booking_id"] == booking_id
    assert notices[0]["read_at"] is None
    newest = notices[0]["id"]
    assert client.post(f"/api/v1/me/notices/{newest}/read", headers=bearer(owner_token)).status_code == 204
    notices = client.get("/api/v1/me/notices", headers=bearer(owner_token)).json()
    assert [notice["read_at"] is not None for notice in notices] == [True, False]
    # somebody else's notice: as if it did not exist
    assert client.get("/api/v1/me/notices", headers=bearer(token)).json() == []
    assert client.post(f"/api/v1/me/notices/{newest}/read", headers=bearer(token)).status_code == 404


def test_staff_read_the_default_policy_and_an_administrator_changes_it_on_the_record(
    client: TestClient, database: str
) -> None:
    _, staff_token = make_account(database, "desk.zhao", Role.STAFF, site_id=SITE)
    admin, admin_token = make_account(database, "root", Role.ADMIN)
    default = client.get(POLICY_PATH, headers=bearer(staff_token))
    assert default.status_code == 200, default.text
    assert default.json() == {
        "mode": "enforce",
        "grace_s": 600,
        "warn_after_s": 300,
        "checkin_opens_s": 900,
        "undo_window_s": 900,
        "hold_s": 600,
        "end_early_after_s": 900,
        "exempt_longer_than_s": 8 * 3600,
        "strikes_to_cancel_series": 3,
        "auto_book_unbooked": False,
        "release_without_sensor": False,
    }
    changed = {**default.json(), "mode": "shadow", "grace_s": 900, "end_early_after_s": None}
    assert client.put(POLICY_PATH, json=changed, headers=bearer(staff_token)).status_code == 403
    answer = client.put(POLICY_PATH, json=changed, headers=bearer(admin_token))
    assert answer.status_code == 200, answer.text
    assert answer.json() == changed
    assert client.get(POLICY_PATH, headers=bearer(staff_token)).json() == changed
    booking_id, actor, detail, evidence = fetch(
        database, "SELECT booking_id, actor_id, detail, evidence FROM booking_event WHERE kind = 'policy_changed'"
    )
    assert (booking_id, actor) == (None, admin.id)
    assert detail == "mode enforce → shadow, grace_s 600 → 900, end_early_after_s 900 → None"
    assert evidence["before"] == default.json()
    assert evidence["after"] == changed
    assert evidence["before_was_default"] is True
    assert fetch(database, "SELECT count(*) FROM room_schedule WHERE space_id = %s", SPACE) == (1,)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"grace_s": 30}, "grace_s must be between 60 and 7200, not 30"),
        ({"warn_after_s": 600}, "warn_after_s (600) must be shorter than grace_s (600)"),
        ({"warn_after_s": -1}, "warn_after_s must not be negative"),
        ({"checkin_opens_s": 7201}, "checkin_opens_s must be between 0 and 7200"),
        ({"undo_window_s": -5}, "undo_window_s must be between 0 and 7200"),
        ({"hold_s": 59}, "hold_s must be between 60 and 7200"),
        ({"end_early_after_s": 14401}, "end_early_after_s must be between 60 and 14400"),
        ({"exempt_longer_than_s": 0}, "exempt_longer_than_s must be between 1 and"),
        ({"strikes_to_cancel_series": 101}, "strikes_to_cancel_series must be between 0 and 100"),
    ],
)
def test_a_policy_out_of_range_is_422_naming_the_setting(
    client: TestClient, database: str, change: dict[str, int], words: str
) -> None:
    _, admin_token = make_account(database, "root", Role.ADMIN)
    policy = client.get(POLICY_PATH, headers=bearer(admin_token)).json()
    answer = client.put(POLICY_PATH, json={**policy, **change}, headers=bearer(admin_token))
    assert answer.status_code == 422
    assert answer.json()["code"] == "bad_policy"
    assert words in answer.json()["detail"]
    assert fetch(database, "SELECT count(*) FROM space_policy") == (0,)
    assert fetch(database, "SELECT count(*) FROM booking_event") == (0,)


def test_a_malformed_policy_body_is_422(client: TestClient, database: str) -> None:
    _, admin_token = make_account(database, "root", Role.ADMIN)
    policy = client.get(POLICY_PATH, headers=bearer(admin_token)).json()
    for body in (
        {**policy, "mode": "sometimes"},
        {k: v for k, v in policy.items() if k != "hold_s"},
        {**policy, "x": 1},
    ):
        assert client.put(POLICY_PATH, json=body, headers=bearer(admin_token)).status_code == 422


def test_policies_exist_for_bookable_spaces_of_the_callers_site_only(client: TestClient, database: str) -> None:
    _, resident_token = make_account(database, "wang.fang", Role.RESIDENT)
    _, far_staff_token = make_account(database, "desk.qian", Role.STAFF, site_id="affairs-center")
    _, admin_token = make_account(database, "root", Role.ADMIN)
    assert client.get(POLICY_PATH, headers=bearer(resident_token)).status_code == 403
    far = client.get(POLICY_PATH, headers=bearer(far_staff_token))
    assert (far.status_code, far.json()["code"]) == (403, "forbidden")
    lobby = client.get(f"/api/v1/sites/{SITE}/spaces/lobby/policy", headers=bearer(admin_token))
    assert lobby.status_code == 422
    assert "not bookable" in lobby.json()["detail"]
    assert client.get(f"/api/v1/sites/{SITE}/spaces/attic/policy", headers=bearer(admin_token)).status_code == 404


def test_load_policy_follows_the_default_mode_until_the_space_has_its_own(database: str) -> None:
    with psycopg.connect(database) as connection:
        assert load_policy(connection, SITE, SPACE, "shadow") == ReleasePolicy(mode=PolicyMode.SHADOW)
        assert load_policy(connection, SITE, SPACE, PolicyMode.OFF).mode is PolicyMode.OFF
        own = ReleasePolicy(
            mode=PolicyMode.ENFORCE,
            grace=timedelta(minutes=20),
            warn_after=timedelta(0),
            end_early_after=None,
            exempt_longer_than=None,
            strikes_to_cancel_series=0,
            auto_book_unbooked=True,
            release_without_sensor=True,
        )
        save_policy(connection, site_id=SITE, space_id=SPACE, policy=own, updated_at=datetime.now(UTC), updated_by=None)
        assert load_policy(connection, SITE, SPACE, "shadow") == own
        assert load_policy(connection, SITE, "party-school", "off") == ReleasePolicy(mode=PolicyMode.OFF)
