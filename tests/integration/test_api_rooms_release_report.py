"""Room state and the release report through the API, against a real PostgreSQL, on a clock the test sets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.site import load_belt
from server.app import create_app
from server.db.booking_events import record_event
from server.db.migrate import apply_migrations
from server.db.policies import save_policy
from server.domain.accounts import Role
from server.domain.release_types import PolicyMode, ReleasePolicy
from server.settings import ServerSettings
from tests.integration.release_world import (
    SENSOR,
    SITE,
    SPACE,
    T0,
    ManualClock,
    add_account,
    add_booking,
    add_readings,
    minutes,
    token_for,
)

ROOM = f"/api/v1/sites/{SITE}/spaces/{SPACE}/room"
REPORT = f"/api/v1/sites/{SITE}/release-report"


@dataclass
class Api:
    client: TestClient
    clock: ManualClock
    database: str
    resident: dict[str, str]  # Authorization headers
    staff: dict[str, str]


@pytest.fixture
def api(pg_dsn: str) -> Iterator[Api]:
    apply_migrations(pg_dsn)
    settings = ServerSettings(
        database_url=pg_dsn, ingest_enabled=False, commands_enabled=False, scheduler_enabled=False
    )
    app = create_app(settings, belt=load_belt())
    clock = ManualClock(T0)
    app.state.clock = clock  # the server's clock, injected: the test moves it
    resident = add_account(pg_dsn, "resident")
    staff = add_account(pg_dsn, "staff", Role.STAFF)
    with TestClient(app) as client:
        yield Api(
            client,
            clock,
            pg_dsn,
            {"Authorization": f"Bearer {token_for(pg_dsn, resident)}"},
            {"Authorization": f"Bearer {token_for(pg_dsn, staff)}"},
        )


def room(api: Api, at: datetime) -> dict[str, object]:
    api.clock.set(at)
    response = api.client.get(ROOM, headers=api.resident)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_room_whose_sensor_went_stale_is_unknown_never_free(api: Api) -> None:
    add_readings(api.database, people=0, start=T0 - minutes(30), end=T0 - minutes(10))

    stale = room(api, T0)
    assert stale["state"] == "unknown"
    assert stale["presence"] == {
        "presence": "unknown",
        "people": 0,
        "reason": "stale sensor (last reading complex-sharing-space-occupancy 10 min ago; stale after 3 min)",
        "stale_sensors": [SENSOR],
    }

    add_readings(api.database, people=0, start=T0 - minutes(9), end=T0)
    fresh = room(api, T0)
    assert fresh["state"] == "free"
    assert fresh["presence"]["presence"] == "absent"  # type: ignore[index]

    add_readings(api.database, people=2, start=T0 + minutes(1), end=T0 + minutes(2))
    occupied = room(api, T0 + minutes(2))
    assert (occupied["state"], occupied["booking_id"]) == ("occupied_unbooked", None)


def test_a_booked_room_says_when_it_will_be_released_and_on_what_evidence(api: Api) -> None:
    owner = add_account(api.database, "owner")
    booking = add_booking(api.database, owner=owner, start=T0, end=T0 + minutes(60))
    add_readings(api.database, people=0, start=T0 - minutes(20), end=T0 + minutes(2))

    booked = room(api, T0 + minutes(2))
    assert (booked["state"], booked["booking_id"], booked["policy_mode"]) == ("booked", booking, "enforce")
    assert booked["release_at"] == "2026-11-27T02:10:00Z"
    evidence = booked["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["readings"][-1] == {"device": SENSOR, "at": "2026-11-27T02:02:00Z", "people": 0}

    silent = room(api, T0 + minutes(9))  # the newest reading is 7 minutes old
    assert silent["state"] == "booked"
    assert silent["presence"]["presence"] == "unknown"  # type: ignore[index]
    assert "no release while presence is unknown" in str(silent["reason"])


def test_room_state_needs_a_login_and_a_bookable_space(api: Api) -> None:
    assert api.client.get(ROOM).status_code == 401
    not_bookable = api.client.get(f"/api/v1/sites/{SITE}/spaces/lobby/room", headers=api.resident)
    assert not_bookable.status_code == 422
    assert api.client.get(f"/api/v1/sites/{SITE}/spaces/nowhere/room", headers=api.resident).status_code == 404


def decided(database: str, booking_id: int, *kinds: str, space: str = SPACE) -> None:
    with psycopg.connect(database) as connection:
        for kind in kinds:
            mode = "shadow" if kind in ("would_release", "shadow_false_release") else "enforce"
            record_event(connection, at=T0, site_id=SITE, space_id=space, booking_id=booking_id, kind=kind, mode=mode)


def test_the_release_report_counts_per_room_and_gives_the_false_release_rate(api: Api) -> None:
    database, owner = api.database, add_account(api.database, "owner")
    with psycopg.connect(database) as connection:
        shadow = ReleasePolicy(mode=PolicyMode.SHADOW)
        save_policy(connection, site_id=SITE, space_id="party-school", policy=shadow, updated_at=T0, updated_by=None)
    # The Sharing Space (enforce): one released, one released then undone, one checked in; one outside the range.
    hour = minutes(60)
    no_show = add_booking(database, owner=owner, start=T0, end=T0 + hour, status="released")
    undone = add_booking(database, owner=owner, start=T0 + hour, end=T0 + 2 * hour, checked_in_at=T0 + hour)
    add_booking(database, owner=owner, start=T0 + 2 * hour, end=T0 + 3 * hour, checked_in_at=T0 + 2 * hour)
    later = add_booking(database, owner=owner, start=T0 + 30 * hour, end=T0 + 31 * hour, status="released")
    decided(database, no_show, "released")
    decided(database, undone, "released", "undone")
    decided(database, later, "released")
    # The Party school classroom (shadow): two would-be releases, people came after one of them.
    for offset, kinds in ((0, ("would_release", "shadow_false_release")), (1, ("would_release",))):
        start = T0 + offset * hour
        shadowed = add_booking(database, owner=owner, start=start, end=start + hour, space="party-school")
        decided(database, shadowed, *kinds, space="party-school")

    window = {"from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}
    response = api.client.get(REPORT, params=window, headers=api.staff)
    assert response.status_code == 200, response.text
    spaces = {space["space"]: space for space in response.json()["spaces"]}
    assert spaces[SPACE] == {
        "space": SPACE,
        "mode": "enforce",
        "bookings": 3,
        "checked_in": 2,
        "released": 2,
        "undone": 1,
        "ended_early": 0,
        "would_release": 0,
        "shadow_false_releases": 0,
        "false_release_rate": 0.5,
    }
    party_school = spaces["party-school"]
    assert (party_school["mode"], party_school["bookings"], party_school["would_release"]) == ("shadow", 2, 2)
    assert (party_school["shadow_false_releases"], party_school["false_release_rate"]) == (1, 0.5)
    assert spaces["council-hall"]["bookings"] == 0
    assert spaces["council-hall"]["false_release_rate"] is None
    assert "lobby" not in spaces  # not bookable


def test_the_release_report_is_for_staff_and_a_sensible_range(api: Api) -> None:
    window = {"from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}
    assert api.client.get(REPORT, params=window, headers=api.resident).status_code == 403
    backwards = {"from": window["to"], "to": window["from"]}
    assert api.client.get(REPORT, params=backwards, headers=api.staff).status_code == 422
    elsewhere = add_account(api.database, "other-site-staff", Role.STAFF, site_id="affairs-center")
    headers = {"Authorization": f"Bearer {token_for(api.database, elsewhere)}"}
    refused = api.client.get(REPORT, params=window, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
