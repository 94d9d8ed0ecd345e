"""Scenario plans: reproducible from the seed, physically possible, and telling the truth scorers need."""

from __future__ import annotations

import itertools
import json
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from devices.broker import BrokerAddress
from devices.site import load_belt
from devices.vendors.milesight_vs121 import parse_vs121_report
from simulators.occupancy_sensor import Vs121Simulator
from simulators.scenario import (
    SCENARIOS,
    FaultOptions,
    ScenarioError,
    ScenarioPlan,
    build_plan,
    device_actions,
    parse_start,
    run_scenario_command,
    truth_document,
    write_truth,
)
from simulators.scenario.schedule import Cross, Key, sensor_feeds, share
from simulators.scenario.timeline import people_at
from simulators.scenario.truth import truth_json_schema

BELT = load_belt()
TZ = BELT.tz
FRIDAY = date(2026, 11, 27)
MONDAY = date(2026, 11, 23)
JUST_BEFORE = timedelta(microseconds=1)


def local(day: date, hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(UTC)


def friday(seed: int = 7, scenario: str = "day", faults: FaultOptions | None = None) -> ScenarioPlan:
    return build_plan(BELT, site_ids=[], day=FRIDAY, seed=seed, scenario=scenario, faults=faults)


PLAN = friday()


def counts_during(plan: ScenarioPlan, site: str, space: str, start: datetime, end: datetime) -> list[int]:
    """Every headcount the space has at some instant of [start, end)."""
    changes = plan.space(site, space).headcount
    return [people_at(changes, start)] + [people for at, people in changes if start <= at < end]


# --- reproducibility ---------------------------------------------------------------------------------------------


def test_the_same_seed_plans_the_same_day_and_truth() -> None:
    again = friday()
    assert again == PLAN
    assert truth_document(again) == truth_document(PLAN)


def test_another_seed_plans_another_day() -> None:
    other = friday(seed=8)
    assert other.tickets != PLAN.tickets
    assert other.bookings != PLAN.bookings
    assert other.spaces != PLAN.spaces


def test_a_fault_scenario_keeps_the_day_around_its_fault() -> None:
    dropout = friday(scenario="sensor-dropout")
    assert (dropout.spaces, dropout.bookings, dropout.tickets) == (PLAN.spaces, PLAN.bookings, PLAN.tickets)


# --- occupancy ---------------------------------------------------------------------------------------------------


def test_every_headcount_stays_within_capacity_and_is_zero_when_closed() -> None:
    for truth in PLAN.spaces:
        space = BELT.site(truth.site).space(truth.space)
        assert truth.headcount, f"{truth.site}/{truth.space} never had anyone"
        for at, people in truth.headcount:
            assert 0 <= people <= space.capacity, (truth.space, at, people)
            if people:
                assert space.hours.is_open(at, TZ), f"{truth.space} holds {people} at {at.astimezone(TZ)}"
        assert truth.headcount[-1][1] == 0, f"{truth.space} is not empty at the end of the day"


def test_nobody_is_anywhere_before_the_plan_begins() -> None:
    begin = local(FRIDAY, "10:00")
    plan = build_plan(BELT, site_ids=["complex"], day=FRIDAY, seed=7, begin=begin)
    assert all(at >= begin for truth in plan.spaces for at, _people in truth.headcount)
    assert all(ticket.taken_at >= begin for ticket in plan.tickets)
    assert all(booking.start >= begin for booking in plan.bookings)


# --- bookings ----------------------------------------------------------------------------------------------------


def test_outcomes_have_realistic_shares_over_many_days() -> None:
    outcomes: dict[str, int] = defaultdict(int)
    for seed in range(12):
        for booking in friday(seed=seed).bookings:
            outcomes[booking.outcome] += 1
    total = sum(outcomes.values())
    assert total > 200
    assert 0.08 < outcomes["no_show"] / total < 0.22
    assert 0.08 < outcomes["late"] / total < 0.22
    assert outcomes["ended_early"]
    assert outcomes["attended"]


def test_a_no_show_booking_keeps_its_room_empty_from_start_to_end() -> None:
    no_shows = [b for seed in range(4) for b in friday(seed=seed).bookings if b.outcome == "no_show"]
    assert no_shows
    for seed in range(4):
        plan = friday(seed=seed)
        for booking in (b for b in plan.bookings if b.outcome == "no_show"):
            assert booking.arrived_at is None
            assert booking.attendees == 0
            assert set(counts_during(plan, booking.site, booking.space, booking.start, booking.end)) == {0}


def test_a_late_booking_stays_empty_until_its_first_arrival_5_to_20_minutes_after_start() -> None:
    late = [(plan, b) for plan in map(friday, range(4)) for b in plan.bookings if b.outcome == "late"]
    assert late
    for plan, booking in late:
        assert booking.arrived_at is not None
        assert timedelta(minutes=5) <= booking.arrived_at - booking.start <= timedelta(minutes=20)
        assert set(counts_during(plan, booking.site, booking.space, booking.start, booking.arrived_at)) == {0}
        assert plan.people_at(booking.site, booking.space, booking.arrived_at) >= 1


def test_an_early_ending_booking_leaves_its_room_empty_from_emptied_at_to_the_end() -> None:
    early = [(plan, b) for plan in map(friday, range(4)) for b in plan.bookings if b.outcome == "ended_early"]
    assert early
    for plan, booking in early:
        assert booking.emptied_at is not None
        assert booking.start < booking.emptied_at < booking.end
        assert plan.people_at(booking.site, booking.space, booking.emptied_at - JUST_BEFORE) >= 1
        assert set(counts_during(plan, booking.site, booking.space, booking.emptied_at, booking.end)) == {0}


def test_an_attended_booking_holds_its_people_over_its_start() -> None:
    for booking in (b for b in PLAN.bookings if b.outcome == "attended"):
        assert booking.arrived_at is not None
        assert booking.arrived_at <= booking.start + timedelta(minutes=2)
        assert PLAN.people_at(booking.site, booking.space, booking.start + timedelta(minutes=2)) >= 1


def test_bookings_of_a_space_never_overlap_and_fit_its_hours() -> None:
    by_space = defaultdict(list)
    for booking in PLAN.bookings:
        by_space[(booking.site, booking.space)].append(booking)
        space = BELT.site(booking.site).space(booking.space)
        assert space.bookable
        assert space.hours.is_open(booking.start, TZ)
        assert space.hours.is_open(booking.end - JUST_BEFORE, TZ)
    for bookings in by_space.values():
        for earlier, later in itertools.pairwise(bookings):
            assert earlier.end <= later.start


# --- queue -------------------------------------------------------------------------------------------------------


def test_the_friday_legal_session_is_planned_on_fridays_at_the_enterprise_centre_only() -> None:
    legal = [t for t in PLAN.tickets if t.service == "legal-service"]
    assert legal
    assert {t.site for t in legal} == {"enterprise-center"}
    assert all(local(FRIDAY, "13:00") <= t.taken_at < local(FRIDAY, "17:00") for t in legal)
    assert {t.window for t in legal if t.outcome == "served"} == {"legal-window"}
    sessions = [s for s in PLAN.sessions if s.window == "legal-window"]
    assert sessions
    assert all(local(FRIDAY, "13:00") <= s.open_at and s.close_at <= local(FRIDAY, "17:00") for s in sessions)
    monday = build_plan(BELT, site_ids=["enterprise-center"], day=MONDAY, seed=7)
    assert monday.tickets
    assert not [t for t in monday.tickets if t.service == "legal-service"]
    assert not [s for s in monday.sessions if s.window == "legal-window"]


def test_each_window_calls_the_oldest_waiting_ticket_of_its_services() -> None:
    for plan in map(friday, range(3)):
        for called in plan.tickets:
            called_at = called.called_at
            if called_at is None or called.window is None:
                continue
            services = BELT.site(called.site).window(called.window).services
            for older in plan.tickets:
                if older.site != called.site or older.service not in services or older.taken_at >= called.taken_at:
                    continue
                # An older ticket of this window's services may not still be waiting to be called after this call.
                assert older.called_at is None or older.called_at <= called_at, (older, called)


def test_tickets_are_numbered_per_service_in_the_order_taken() -> None:
    by_service = defaultdict(list)
    for ticket in PLAN.tickets:
        by_service[(ticket.site, ticket.service)].append(ticket)
    for (site_id, service_id), tickets in by_service.items():
        prefix = BELT.site(site_id).service(service_id).prefix
        assert [t.number for t in tickets] == [f"{prefix}{n:03d}" for n in range(1, len(tickets) + 1)]


def test_every_ticket_tells_its_story_in_order() -> None:
    outcomes = {t.outcome for t in PLAN.tickets}
    assert {"served", "left"} <= outcomes
    for t in PLAN.tickets:
        if t.outcome == "served":
            assert t.called_at is not None
            assert t.served_from is not None
            assert t.served_to is not None
            assert t.taken_at <= t.called_at < t.served_from < t.served_to
            assert t.left_at is None
        else:
            assert t.served_from is None
            assert t.left_at is not None
            assert t.taken_at < t.left_at
        if t.outcome == "left" and t.called_at is not None:
            # Called after the resident had gone: recalled, then a no-show.
            assert t.recalled_at is not None
            assert t.no_show_at is not None
            assert t.left_at is not None
            assert t.left_at <= t.called_at < t.recalled_at < t.no_show_at


def test_windows_are_staffed_within_their_hours_with_a_staff_break() -> None:
    complex_site = BELT.site("complex")
    sessions = [s for s in PLAN.sessions if s.site == "complex"]
    for session in sessions:
        hours = complex_site.window_hours(session.window)
        assert hours.is_open(session.open_at, TZ)
        assert hours.is_open(session.close_at - JUST_BEFORE, TZ)
        assert session.open_at < session.close_at
    for window in complex_site.windows:
        mine = [s for s in sessions if s.window == window.id]
        assert len(mine) == 2, "a full day: opened, a break, reopened"
        assert mine[1].after_break
        assert mine[1].open_at - mine[0].close_at == timedelta(minutes=15)


def test_residents_wait_in_the_waiting_area_and_are_served_in_the_hall() -> None:
    for ticket in (t for t in PLAN.tickets if t.site == "complex" and t.outcome == "served"):
        assert ticket.served_from is not None
        assert ticket.waiting_space == "windows-waiting"
        assert PLAN.people_at("complex", "windows-waiting", ticket.taken_at) >= 1
        assert PLAN.people_at("complex", "windows-hall", ticket.served_from) >= 1


# --- faults ------------------------------------------------------------------------------------------------------


def test_a_sensor_dropout_names_the_silent_sensor_and_when() -> None:
    start = local(FRIDAY, "10:00")
    plan = friday(
        scenario="sensor-dropout", faults=FaultOptions(start, dropout=timedelta(minutes=20), dropout_sensors=2)
    )
    assert len(plan.faults) == 2
    for fault in plan.faults:
        assert fault.device is not None
        assert BELT.device(fault.device)[1].model == "milesight-vs121"
        assert (fault.start, fault.end) == (start, start + timedelta(minutes=20))


def test_a_dead_modbus_device_is_a_modbus_device_dead_to_the_end() -> None:
    (fault,) = friday(scenario="dead-modbus").faults
    assert fault.device is not None
    assert BELT.device(fault.device)[1].transport == "modbus"
    assert fault.end is None
    assert fault.start == local(FRIDAY, "10:00")


def test_an_uplink_cut_lasts_ten_simulated_minutes_unless_told() -> None:
    (fault,) = friday(scenario="uplink-cut").faults
    assert fault.end is not None
    assert fault.end - fault.start == timedelta(minutes=10)
    (short,) = friday(scenario="uplink-cut", faults=FaultOptions(uplink_cut=timedelta(minutes=2))).faults
    assert short.end is not None
    assert short.end - short.start == timedelta(minutes=2)


def test_a_crowd_surge_fills_its_hall_and_its_queue() -> None:
    surge_plan = friday(scenario="crowd-surge", faults=FaultOptions(local(FRIDAY, "10:00")))
    (fault,) = surge_plan.faults
    assert fault.site is not None
    assert fault.space is not None
    assert fault.people is not None
    assert BELT.site(fault.site).space(fault.space).kind == "service-hall"
    assert fault.end is not None
    during = fault.end + timedelta(minutes=5)
    assert surge_plan.people_at(fault.site, fault.space, during) > PLAN.people_at(fault.site, fault.space, during) + 10
    surge_tickets = [t for t in surge_plan.tickets if t.site == fault.site and fault.start <= t.taken_at < fault.end]
    day_tickets = [t for t in PLAN.tickets if t.site == fault.site and fault.start <= t.taken_at < fault.end]
    assert len(surge_tickets) >= len(day_tickets) + fault.people // 4


def test_a_surge_asked_for_while_the_hall_is_closed_comes_after_it_opens() -> None:
    plan = friday(scenario="crowd-surge", faults=FaultOptions(local(FRIDAY, "07:00")))
    (fault,) = plan.faults
    assert fault.start == local(FRIDAY, "08:45")


def test_unknown_scenarios_sites_and_days_are_refused_with_their_name() -> None:
    with pytest.raises(ScenarioError, match="no scenario 'picnic'"):
        build_plan(BELT, site_ids=[], day=FRIDAY, seed=1, scenario="picnic")
    with pytest.raises(ScenarioError, match="nowhere"):
        build_plan(BELT, site_ids=["nowhere"], day=FRIDAY, seed=1)
    with pytest.raises(ScenarioError, match="not on 2026-11-27"):
        build_plan(BELT, site_ids=[], day=FRIDAY, seed=1, begin=local(MONDAY, "09:00"))
    with pytest.raises(ScenarioError, match="no Modbus device"):
        build_plan(BELT, site_ids=["station-xikang-lane"], day=FRIDAY, seed=1, scenario="dead-modbus")
    assert set(SCENARIOS) == {"day", "sensor-dropout", "dead-modbus", "uplink-cut", "crowd-surge"}


# --- what the devices see ----------------------------------------------------------------------------------------


def test_sensors_sharing_a_space_split_its_people_exactly() -> None:
    assert [share(7, i, 2) for i in range(2)] == [4, 3]
    feeds = [f for f in sensor_feeds(PLAN, BELT) if f.device.space == "council-hall"]
    assert len(feeds) == 2
    for at, people in PLAN.space("complex", "council-hall").headcount:
        assert sum(people_at(feed.changes, at) for feed in feeds) == people


def test_counter_crossings_add_up_to_the_true_headcount_at_every_instant() -> None:
    (counter,) = [d for d in BELT.site("complex").devices if d.model == "modbus-people-counter"]
    crossings = [a for a in device_actions(PLAN, BELT) if isinstance(a, Cross) and a.device == counter.id]
    assert {a.counter for a in crossings} == {"channel_1_in", "channel_1_out", "channel_2_in", "channel_2_out"}
    inside: dict[datetime, int] = {}
    total = 0
    for action in crossings:  # a change split over both doors is two crossings at one instant
        total += action.times if action.counter.endswith("_in") else -action.times
        inside[action.at] = total
    assert inside == dict(PLAN.space("complex", counter.space).headcount)


def test_actions_come_in_time_order() -> None:
    actions = device_actions(PLAN, BELT)
    assert [a.at for a in actions] == sorted(a.at for a in actions)


# --- truth -------------------------------------------------------------------------------------------------------


def test_the_truth_validates_against_its_documented_schema() -> None:
    for scenario in SCENARIOS:
        document = truth_document(friday(scenario=scenario))
        jsonschema.validate(document, truth_json_schema())
        assert document["schema"] == "smartcomplex.truth/v1"
        assert document["scenario"] == scenario


def test_the_truth_cut_at_until_says_nothing_of_later() -> None:
    until = local(FRIDAY, "10:30")
    document = truth_document(PLAN, until=until)
    jsonschema.validate(document, truth_json_schema())
    stamp = until.isoformat().replace("+00:00", "Z")
    assert document["until"] == stamp
    instants = [at for space in document["spaces"] for at, _people in space["headcount"]]
    for item in (*document["bookings"], *document["tickets"], *document["windows"], *document["card_uses"]):
        instants += [value for key, value in item.items() if key.endswith("_at") and value is not None]
    assert instants
    assert max(instants) < stamp
    cut_tickets = [t for t in document["tickets"] if t["cut"]]
    assert cut_tickets, "tickets taken before 10:30 and served after are marked cut"
    assert all(t["served_to"] is None for t in cut_tickets if t["outcome"] == "served")
    assert any(b["cut"] for b in document["bookings"])


def test_truth_is_written_atomically_and_replaces_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text("old")
    write_truth(path, PLAN, until=local(FRIDAY, "12:00"))
    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, truth_json_schema())
    assert document == truth_document(PLAN, until=local(FRIDAY, "12:00"))
    assert [p.name for p in tmp_path.iterdir()] == ["truth.json"]


# --- the command's start and refusals ----------------------------------------------------------------------------


def test_the_start_is_read_as_local_time_of_today_a_date_or_a_weekday() -> None:
    wednesday = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    assert parse_start(BELT, "08:30", today=wednesday).begin == local(date(2026, 11, 25), "08:30")
    assert parse_start(BELT, "2026-11-27 13:00", today=wednesday).begin == local(FRIDAY, "13:00")
    assert parse_start(BELT, "fri 13:00", today=wednesday).day == FRIDAY
    assert parse_start(BELT, "wed 09:00", today=wednesday).day == date(2026, 11, 25)
    assert parse_start(BELT, "mon 09:00", today=wednesday).day == date(2026, 11, 30)
    for bad in ("25:00", "someday 09:00", "noon"):
        with pytest.raises(ValueError, match="start"):
            parse_start(BELT, bad, today=wednesday)


@pytest.mark.parametrize(
    ("name", "start", "problem"),
    [
        ("picnic", "09:00", "no scenario 'picnic'"),
        ("uplink-cut", "09:00", "uplink-cut needs an uplink relay"),
        ("day", "half past nine", "is not HH:MM"),
    ],
)
def test_the_command_refuses_a_bad_request_in_one_line_before_touching_anything(
    name: str, start: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    code = run_scenario_command(
        BELT,
        site_ids=None,
        name=name,
        seed=1,
        speed=60,
        start_local=start,
        duration=None,
        truth_path=None,
        site_broker=BrokerAddress("127.0.0.1", 1),
        stop=threading.Event(),
    )
    assert code == 2
    assert problem in caplog.text


def test_a_sensor_fed_the_true_count_reports_it_even_over_capacity_and_refuses_a_negative_one() -> None:
    device = next(d for d in BELT.site("complex").devices if d.space == "day-care")
    sensor = Vs121Simulator(device=device, space=BELT.site("complex").space("day-care"), tz=TZ, seed=1)
    at = local(FRIDAY, "10:00")
    wall = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    first = sensor.step(at, wall, true_people=31)  # capacity 30: a sensor counts whoever is there
    assert [(r.people, parse_vs121_report(r.payload).report_type) for r in first] == [(31, "trigger"), (31, "interval")]
    assert sensor.step(at + timedelta(seconds=10), wall, true_people=31) == []
    assert [r.people for r in sensor.step(at + timedelta(seconds=20), wall, true_people=4)] == [4]
    with pytest.raises(ValueError, match="negative"):
        sensor.step(at + timedelta(seconds=30), wall, true_people=-1)


def test_a_window_terminal_gets_open_call_finish_and_close_keys_in_the_plans_order() -> None:
    terminal = next(d for d in BELT.site("complex").devices if getattr(d, "window", None) == "window-1")
    keys = [a for a in device_actions(PLAN, BELT) if isinstance(a, Key) and a.device == terminal.id]
    assert (keys[0].action, keys[-1].action) == ("open", "close")
    assert all(key.ticket is None for key in keys), "staff type no ticket: keys act on the one at the window"
    called = sorted(
        (t for t in PLAN.tickets if t.site == "complex" and t.window == "window-1"),
        key=lambda t: t.called_at or t.taken_at,
    )
    assert [k.expects for k in keys if k.action == "call_next"] == [t.number for t in called]
    at_window: str | None = None
    for key in keys:
        if key.action == "call_next":
            assert at_window is None, "a window calls the next ticket only when the last one is finished"
            at_window = key.expects
        elif key.action in ("done", "no_show"):
            assert key.expects == at_window
            at_window = None
        elif key.action == "recall":
            assert key.expects == at_window
        else:
            assert at_window is None, f"{key.action} while {at_window} is at the window"
