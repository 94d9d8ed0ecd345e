"""The release scheduler against a real PostgreSQL, on a clock the test moves: warnings, releases on time, waitlist
holds that expire and move on, a stale sensor that withholds the release, an undo, ending early, and two replicas
sharing the work without ever releasing a booking twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta

import psycopg
import pytest

from devices.site import Belt, load_belt, parse_belt
from server.db.migrate import apply_migrations
from server.db.schedule import pull_schedule_forward
from server.release.scheduler import ReleaseScheduler
from server.settings import ServerSettings
from tests.integration.release_world import (
    SPACE,
    T0,
    ManualClock,
    add_account,
    add_booking,
    add_readings,
    add_waitlist_entry,
    belt_of_rooms,
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
    return ManualClock(T0 - minutes(10))


RunScheduler = Callable[..., AbstractContextManager[ReleaseScheduler]]


@pytest.fixture
def run_scheduler(database: str, clock: ManualClock) -> RunScheduler:
    @contextmanager
    def running(belt: Belt | None = None, scheduler_id: str = "replica-a") -> Iterator[ReleaseScheduler]:
        settings = ServerSettings(
            database_url=database, scheduler_id=scheduler_id, scheduler_max_sleep_s=0.05, commands_enabled=False
        )
        scheduler = ReleaseScheduler(
            belt=belt or load_belt(), conninfo=database, clock=clock, settings=settings, commands=None
        )
        scheduler.start()
        try:
            yield scheduler
        finally:
            scheduler.stop()

    return running


def move_to(database: str, clock: ManualClock, at: datetime, *schedulers: ReleaseScheduler) -> None:
    """Set the clock and wait until the space under test has been looked at, at that time."""
    clock.set(at)
    for scheduler in schedulers:
        scheduler.wake()
    wait_until(
        lambda: one(database, "SELECT last_run_at FROM room_schedule WHERE space_id = %s", SPACE)[0] == at,
        what=f"the scheduler to look at {SPACE} at {at}",
    )


def booking_row(database: str, booking_id: int) -> dict[str, object]:
    with psycopg.connect(database) as connection, connection.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute(
            "SELECT *, lower(during) AS start, upper(during) AS end FROM booking WHERE id = %s", (booking_id,)
        )
        row = cursor.fetchone()
    assert row is not None
    return row


def hold_for(database: str, waitlist_id: int) -> dict[str, object]:
    (hold_id,) = one(database, "SELECT id FROM booking WHERE waitlist_id = %s ORDER BY id DESC LIMIT 1", waitlist_id)
    return booking_row(database, int(str(hold_id)))


def test_a_no_show_is_warned_released_on_time_and_its_slot_held_for_the_waitlist_until_the_hold_expires(
    database: str, clock: ManualClock, run_scheduler: RunScheduler
) -> None:
    owner, first, second = (add_account(database, login) for login in ("owner", "first", "second"))
    booking = add_booking(database, owner=owner, start=T0, end=T0 + minutes(60))
    first_entry = add_waitlist_entry(
        database, account=first, start=T0, end=T0 + minutes(60), created_at=T0 - minutes(99)
    )
    second_entry = add_waitlist_entry(
        database, account=second, start=T0, end=T0 + minutes(60), created_at=T0 - minutes(9)
    )
    add_readings(database, people=0, start=T0 - minutes(20), end=T0 + minutes(60))
    with run_scheduler() as scheduler:
        move_to(database, clock, T0 - minutes(10), scheduler)
        assert booking_row(database, booking)["warned_at"] is None

        move_to(database, clock, T0 + minutes(5), scheduler)
        row = booking_row(database, booking)
        assert (row["status"], row["warned_at"]) == ("confirmed", T0 + minutes(5))
        (warned,) = events(database, booking, "warned")
        assert warned[2]["panel"] == "not sent: commands are disabled on this server (SC_COMMANDS_ENABLED)"
        assert one(database, "SELECT kind, action, action_expires_at FROM notice WHERE account_id = %s", owner) == (
            "release_warning",
            "keep",
            T0 + minutes(10),
        )

        move_to(database, clock, T0 + minutes(10), scheduler)
        row = booking_row(database, booking)
        assert (row["status"], row["released_at"]) == ("released", T0 + minutes(10))
        (released,) = events(database, booking, "released")
        assert released[2]["presence"] == "absent"
        hold = hold_for(database, first_entry)
        assert (hold["status"], hold["owner_id"], hold["released_from"]) == ("held", first, booking)
        assert (hold["start"], hold["end"], hold["hold_expires_at"]) == (
            T0 + minutes(10),
            T0 + minutes(60),
            T0 + minutes(20),
        )
        assert one(database, "SELECT status, offered_booking_id FROM waitlist_entry WHERE id = %s", first_entry) == (
            "offered",
            hold["id"],
        )
        assert one(database, "SELECT kind, action FROM notice WHERE booking_id = %s", hold["id"]) == (
            "waitlist_offer",
            "accept",
        )
        assert len(events(database, int(str(hold["id"])), "hold_offered")) == 1

        move_to(database, clock, T0 + minutes(20), scheduler)
        assert booking_row(database, int(str(hold["id"])))["status"] == "expired"
        assert one(database, "SELECT status FROM waitlist_entry WHERE id = %s", first_entry) == ("expired",)
        assert len(events(database, int(str(hold["id"])), "hold_expired")) == 1
        second_hold = hold_for(database, second_entry)
        assert (second_hold["status"], second_hold["owner_id"]) == ("held", second)
        assert (second_hold["start"], second_hold["hold_expires_at"]) == (T0 + minutes(20), T0 + minutes(30))

    assert len(events(database, booking, "released")) == 1


def test_a_stale_sensor_withholds_the_release_and_says_so_once(
    database: str, clock: ManualClock, run_scheduler: RunScheduler
) -> None:
    owner = add_account(database, "owner")
    booking = add_booking(database, owner=owner, start=T0, end=T0 + minutes(60))
    add_readings(database, people=0, start=T0 - minutes(20), end=T0)  # then the sensor falls silent
    with run_scheduler() as scheduler:
        for at in (T0 + minutes(5), T0 + minutes(10), T0 + minutes(11), T0 + minutes(13), T0 + minutes(20)):
            move_to(database, clock, at, scheduler)

    row = booking_row(database, booking)
    assert (row["status"], row["released_at"]) == ("confirmed", None)
    (withheld,) = events(database, booking, "release_withheld")
    assert withheld[1] == "presence unknown: no fresh reading from complex-sharing-space-occupancy"
    assert withheld[2]["presence"] == "unknown"
    assert events(database, booking, "released") == []


def test_people_arriving_after_the_release_get_the_booking_back_and_the_hold_is_withdrawn(
    database: str, clock: ManualClock, run_scheduler: RunScheduler
) -> None:
    owner, waiting = add_account(database, "owner"), add_account(database, "waiting")
    booking = add_booking(database, owner=owner, start=T0, end=T0 + minutes(60))
    entry = add_waitlist_entry(database, account=waiting, start=T0, end=T0 + minutes(60), created_at=T0 - minutes(60))
    add_readings(database, people=0, start=T0 - minutes(20), end=T0 + minutes(11))
    add_readings(database, people=3, start=T0 + minutes(12), end=T0 + minutes(60))
    with run_scheduler() as scheduler:
        move_to(database, clock, T0 + minutes(10), scheduler)
        assert booking_row(database, booking)["status"] == "released"
        hold = hold_for(database, entry)
        move_to(database, clock, T0 + minutes(12.5), scheduler)

    row = booking_row(database, booking)
    assert (row["status"], row["checked_in_at"], row["check_in_source"], row["released_at"]) == (
        "checked_in",
        T0 + minutes(12),
        "sensor",
        None,
    )
    (undone,) = events(database, booking, "undone")
    assert undone[2]["withdrawn_holds"] == [hold["id"]]
    assert booking_row(database, int(str(hold["id"])))["status"] == "withdrawn"
    assert one(database, "SELECT status, offered_booking_id FROM waitlist_entry WHERE id = %s", entry) == (
        "waiting",
        None,
    )
    assert one(database, "SELECT kind FROM notice WHERE account_id = %s ORDER BY id DESC LIMIT 1", waiting) == (
        "offer_withdrawn",
    )


def test_a_checked_in_room_left_empty_is_ended_early_and_the_rest_offered(
    database: str, clock: ManualClock, run_scheduler: RunScheduler
) -> None:
    owner, waiting = add_account(database, "owner"), add_account(database, "waiting")
    booking = add_booking(database, owner=owner, start=T0, end=T0 + minutes(60), status="checked_in", checked_in_at=T0)
    entry = add_waitlist_entry(database, account=waiting, start=T0, end=T0 + minutes(60), created_at=T0 - minutes(60))
    add_readings(database, people=4, start=T0 - minutes(5), end=T0 + minutes(5))
    add_readings(database, people=0, start=T0 + minutes(6), end=T0 + minutes(60))
    with run_scheduler() as scheduler:
        move_to(database, clock, T0 + minutes(15), scheduler)
        assert booking_row(database, booking)["status"] == "checked_in"  # empty 9 minutes: not yet
        move_to(database, clock, T0 + minutes(21.5), scheduler)

    row = booking_row(database, booking)
    assert (row["status"], row["ended_at"], row["end"]) == ("ended", T0 + minutes(21.5), T0 + minutes(21.5))
    (ended,) = events(database, booking, "ended_early")
    assert ended[2]["emptied_at"] == "2026-11-27T02:06:00Z"
    hold = hold_for(database, entry)
    assert (hold["start"], hold["end"], hold["owner_id"]) == (T0 + minutes(21.5), T0 + minutes(60), waiting)


ROOMS = 16
UNLOOKED = "SELECT count(*) FROM room_schedule WHERE last_run_at IS NULL OR last_run_at < %s"


def test_two_replicas_share_the_work_and_release_every_booking_exactly_once(
    database: str, clock: ManualClock, run_scheduler: RunScheduler
) -> None:
    belt = parse_belt(belt_of_rooms(ROOMS), source="rooms.yaml")
    owner = add_account(database, "owner")
    bookings = []
    for index in range(ROOMS):
        space = f"room-{index}"
        add_readings(
            database, people=0, start=T0 - minutes(20), end=T0 + minutes(90), sensor=f"{space}-occupancy", space=space
        )
        for start in (T0, T0 + minutes(30), T0 + minutes(60)):
            bookings.append(add_booking(database, owner=owner, start=start, end=start + minutes(30), space=space))
    with run_scheduler(belt, "replica-a") as first, run_scheduler(belt, "replica-b") as second:
        for at in (T0 + minutes(10), T0 + minutes(40), T0 + minutes(70)):
            clock.set(at)
            first.wake()
            second.wake()
            wait_until(
                lambda at=at: one(database, UNLOOKED, at) == (0,),
                what=f"every room looked at, at {at}",
            )

    with psycopg.connect(database) as connection:
        released = connection.execute(
            "SELECT booking_id, count(*) FROM booking_event WHERE kind = 'released' GROUP BY booking_id"
        ).fetchall()
        replicas = connection.execute(
            "SELECT DISTINCT evidence->>'scheduler' FROM booking_event WHERE kind = 'released'"
        ).fetchall()
        statuses = connection.execute("SELECT DISTINCT status FROM booking").fetchall()
    assert sorted(b for b, _ in released) == sorted(bookings)
    assert {n for _, n in released} == {1}
    assert statuses == [("released",)]
    assert {r for (r,) in replicas} == {"replica-a", "replica-b"}
    assert first.spaces_evaluated > 0
    assert second.spaces_evaluated > 0


def test_a_space_the_site_file_no_longer_has_is_set_aside_for_a_day_and_the_others_carry_on(
    database: str, clock: ManualClock, run_scheduler: RunScheduler
) -> None:
    with psycopg.connect(database) as connection:  # a deadline for a space the site file does not have
        connection.execute(
            "INSERT INTO room_schedule (site_id, space_id, due_at) VALUES ('complex', 'gone', %s)", (T0 - minutes(99),)
        )
    owner = add_account(database, "owner")
    booking = add_booking(database, owner=owner, start=T0, end=T0 + minutes(60))
    add_readings(database, people=0, start=T0 - minutes(20), end=T0 + minutes(60))
    with run_scheduler() as scheduler:
        move_to(database, clock, T0 + minutes(10), scheduler)
        assert booking_row(database, booking)["status"] == "released"
        (due_at, last_run_by) = one(database, "SELECT due_at, last_run_by FROM room_schedule WHERE space_id = 'gone'")
    assert last_run_by == "replica-a"
    assert isinstance(due_at, datetime)
    assert due_at >= T0 - minutes(10) + timedelta(days=1)  # not retried in a busy loop, nor logged every time


def test_the_scheduler_reconnects_when_its_database_connection_is_cut(
    database: str, clock: ManualClock, run_scheduler: RunScheduler
) -> None:
    owner = add_account(database, "owner")
    booking = add_booking(database, owner=owner, start=T0, end=T0 + minutes(60))
    add_readings(database, people=0, start=T0 - minutes(20), end=T0 + minutes(60))
    with run_scheduler() as scheduler:
        move_to(database, clock, T0 - minutes(10), scheduler)
        with psycopg.connect(database, autocommit=True) as admin:
            (cut,) = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (f"sc-{scheduler.scheduler_id}",),
            ).fetchone() or (0,)
        assert cut == 1
        clock.set(T0 + minutes(10))
        scheduler.wake()
        wait_until(lambda: booking_row(database, booking)["status"] == "released", what="the release after the cut")
    assert booking_row(database, booking)["released_at"] == T0 + minutes(10)


def test_a_deadline_pulled_forward_elsewhere_wakes_a_sleeping_scheduler_at_once(
    database: str, clock: ManualClock
) -> None:
    """NOTIFY on commit: a replica (or the API) that changes a booking does not wait for the other's sleep to end."""
    settings = ServerSettings(
        database_url=database, scheduler_id="sleepy", scheduler_max_sleep_s=60, commands_enabled=False
    )
    scheduler = ReleaseScheduler(belt=load_belt(), conninfo=database, clock=clock, settings=settings, commands=None)
    scheduler.start()
    try:

        def nothing_due() -> bool:
            (due,) = one(database, "SELECT count(*) FROM room_schedule WHERE due_at <= %s", clock.now())
            return scheduler.spaces_evaluated > 0 and due == 0

        wait_until(nothing_due, what="every bookable space looked at once")
        looked = scheduler.spaces_evaluated
        with psycopg.connect(database) as connection:
            pull_schedule_forward(connection, site_id="complex", space_id=SPACE, due_at=clock.now())
        wait_until(
            lambda: scheduler.spaces_evaluated > looked, timeout=5, what="the scheduler woken by the notification"
        )
    finally:
        scheduler.stop()
