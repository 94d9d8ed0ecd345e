"""Strikes that cancel a recurring no-show's series, and occupied-but-unbooked use booked for the people there."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from devices.site import load_belt
from server.db.migrate import apply_migrations
from server.db.policies import save_policy
from server.db.unbooked_use import walk_in_login
from server.domain.release_types import ReleasePolicy
from server.release.scheduler import ReleaseScheduler
from server.settings import ServerSettings
from tests.integration.release_world import (
    SITE,
    SPACE,
    T0,
    ManualClock,
    add_account,
    add_booking,
    add_readings,
    events,
    minutes,
    one,
)
from tests.waiting import wait_until


@pytest.fixture
def database(pg_dsn: str) -> str:
    apply_migrations(pg_dsn)
    return pg_dsn


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 - minutes(30))


@pytest.fixture
def scheduler(database: str, clock: ManualClock) -> Iterator[ReleaseScheduler]:
    settings = ServerSettings(database_url=database, scheduler_id="replica-a", scheduler_max_sleep_s=0.05)
    running = ReleaseScheduler(belt=load_belt(), conninfo=database, clock=clock, settings=settings)
    running.start()
    yield running
    running.stop()


RELEASES = "SELECT count(*) FROM booking_event WHERE kind = 'released'"


def set_policy(database: str, policy: ReleasePolicy) -> None:
    with psycopg.connect(database) as connection:
        save_policy(connection, site_id=SITE, space_id=SPACE, policy=policy, updated_at=T0, updated_by=None)


def status(database: str, booking_id: int) -> str:
    return str(one(database, "SELECT status FROM booking WHERE id = %s", booking_id)[0])


def test_two_no_shows_in_a_row_cancel_the_rest_of_the_series(
    database: str, clock: ManualClock, scheduler: ReleaseScheduler
) -> None:
    set_policy(database, ReleasePolicy(strikes_to_cancel_series=2))
    owner = add_account(database, "branch")
    (series,) = one(
        database,
        "INSERT INTO booking_series (site_id, space_id, owner_id, created_by, rule, created_at)"
        " VALUES (%s, %s, %s, %s, '{\"freq\": \"daily\"}', %s) RETURNING id",
        SITE, SPACE, owner, owner, T0 - minutes(3000),
    )  # fmt: skip
    day = minutes(24 * 60)
    occurrences = [
        add_booking(database, owner=owner, start=start, end=start + minutes(60), series_id=int(str(series)))
        for start in (T0 + n * day for n in range(4))
    ]
    add_readings(database, people=0, start=T0 - minutes(20), end=T0 + day + minutes(30))
    for releases, at in enumerate((T0 + minutes(10), T0 + day + minutes(10)), start=1):
        clock.set(at)
        scheduler.wake()
        wait_until(lambda n=releases: one(database, RELEASES) == (n,), what=f"the release at {at}")

    assert [status(database, b) for b in occurrences] == ["released", "released", "cancelled", "cancelled"]
    assert one(database, "SELECT strikes, cancel_reason FROM booking_series WHERE id = %s", series) == (
        2,
        "2 no-shows in a row",
    )
    assert [e[0] for e in events(database, occurrences[2])] == ["series_cancelled"]
    notice = one(database, "SELECT kind FROM notice WHERE account_id = %s ORDER BY id DESC LIMIT 1", owner)
    assert notice == ("series_cancelled",)


def test_people_in_a_room_nobody_booked_are_recorded_and_booked_for_when_the_policy_says_so(
    database: str, clock: ManualClock, scheduler: ReleaseScheduler
) -> None:
    set_policy(database, ReleasePolicy(auto_book_unbooked=True))
    add_readings(database, people=0, start=T0 - minutes(20), end=T0 - minutes(1))
    add_readings(database, people=6, start=T0, end=T0 + minutes(30))
    clock.set(T0 + minutes(2))
    scheduler.wake()
    wait_until(
        lambda: one(database, "SELECT count(*) FROM unbooked_use")[0] == 1, what="the unbooked use to be recorded"
    )

    use = one(database, "SELECT started_at, peak_people, booking_id, ended_at FROM unbooked_use")
    assert use[:2] == (T0, 6)
    auto_booking = int(str(use[2]))
    row = one(
        database,
        "SELECT a.login, a.role, b.status, b.check_in_source, lower(b.during), upper(b.during)"
        " FROM booking b JOIN account a ON a.id = b.owner_id WHERE b.id = %s",
        auto_booking,
    )
    assert row == (walk_in_login(SITE), "service", "checked_in", "auto", T0, T0 + minutes(62))
    assert [e[0] for e in events(database, auto_booking)] == ["auto_booked", "unbooked_use_started"]
    # Next look: the walk-in booking covers the space, so the unbooked use is over.
    clock.set(T0 + minutes(3))
    scheduler.wake()
    wait_until(
        lambda: one(database, "SELECT ended_at FROM unbooked_use")[0] is not None, what="the unbooked use to end"
    )
