"""What the scenario books before its day: who competes for which slot, which bookings are entered, and a scenario
clock that starts at an instant shared with the server."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from devices.site import load_belt
from simulators.clock import ScenarioClock
from simulators.scenario.booking_entry import bookings_to_enter, competitors, organiser_login
from simulators.scenario.plan import ScenarioPlan, build_plan

FRIDAY = date(2026, 12, 4)


def plan_of(seed: int) -> ScenarioPlan:
    return build_plan(load_belt(), site_ids=[], day=FRIDAY, seed=seed)


def test_organiser_logins_are_their_kind_and_card() -> None:
    assert organiser_login("party-branch", 123456) == "party-branch-123456"


def test_about_a_third_of_bookings_get_a_competitor_of_the_same_kind_with_another_card() -> None:
    planned = chosen = 0
    for plan in (plan_of(seed) for seed in range(1, 9)):
        competing = competitors(plan)
        planned, chosen = planned + len(plan.bookings), chosen + len(competing)
        for booking in plan.bookings:
            if booking.id in competing:
                assert competing[booking.id].startswith(f"{booking.organiser_kind}-")
                assert competing[booking.id] != organiser_login(booking.organiser_kind, booking.organiser_card)

    assert 0.25 <= chosen / planned <= 0.42


def test_competitors_come_from_the_seed_not_from_the_outcomes() -> None:
    plan = plan_of(7)
    flipped = {"no_show": "attended", "attended": "no_show", "late": "ended_early", "ended_early": "late"}
    other_outcomes = dataclasses.replace(
        plan, bookings=tuple(dataclasses.replace(b, outcome=flipped[b.outcome]) for b in plan.bookings)
    )

    assert competitors(plan) == competitors(other_outcomes)
    assert competitors(plan) == competitors(plan_of(7))
    assert competitors(plan) != competitors(plan_of(8))


def test_only_bookings_the_day_plays_are_entered() -> None:
    plan = plan_of(7)
    day_start = plan.bookings[2].end  # the first bookings are over
    until = plan.bookings[-3].start  # the last ones start after the run

    entered = bookings_to_enter(plan, day_start=day_start, until=until)

    assert entered
    assert all(b.end > day_start and b.start < until for b in entered)
    assert [b for b in plan.bookings if b.end > day_start and b.start < until] == entered
    assert bookings_to_enter(plan, day_start=plan.begin, until=None) == list(plan.bookings)


def test_a_scenario_clock_starts_at_a_given_instant_past_or_future() -> None:
    ticks = iter([100.0, 103.0, 106.0, 110.0])
    start = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    clock = ScenarioClock(start=start, speed=60, monotonic=lambda: next(ticks))  # created at 100

    clock.start_at(105.0)

    assert clock.now() == start - timedelta(minutes=2)  # at 103: two real seconds before the start
    assert clock.now() == start + timedelta(minutes=1)  # at 106
    assert clock.now() == start + timedelta(minutes=5)  # at 110


@pytest.mark.parametrize("seed", [1, 7])
def test_every_planned_booking_fits_the_accounts_login_rules(seed: int) -> None:
    logins = [organiser_login(b.organiser_kind, b.organiser_card) for b in plan_of(seed).bookings]
    logins += list(competitors(plan_of(seed)).values())

    assert logins
    assert all(login.islower() and len(login) <= 63 and login[0].isalnum() for login in logins)
