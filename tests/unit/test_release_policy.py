"""The release policy's every path, on an injected clock (server/domain/release.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from server.domain.release import describe_room, evaluate_space, release_at, series_should_be_cancelled
from server.domain.release_types import (
    BadgeIn,
    BookingFacts,
    BookingStatus,
    CheckIn,
    EndEarly,
    ExpireHold,
    PolicyMode,
    Presence,
    Release,
    ReleasePolicy,
    RoomStateName,
    SensorReading,
    ShadowFalseRelease,
    SpaceDecision,
    SpaceEvidence,
    UnbookedUse,
    UnbookedUseEnded,
    UnbookedUsePeak,
    UnbookedUseStarted,
    Undo,
    Warn,
    Withheld,
    WouldRelease,
)

START = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
END = START + timedelta(hours=1)
SENSOR = "room-occupancy"
POLICY = ReleasePolicy()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def booking(**changes: object) -> BookingFacts:
    base = BookingFacts(
        id=1, owner_id=7, start=START, end=END, status=BookingStatus.CONFIRMED, confirmed_at=START - minutes(600)
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def readings(people: int, *, start: datetime, end: datetime, every: timedelta | None = None) -> list[SensorReading]:
    step = every or minutes(1)
    at, out = start, []
    while at <= end:
        out.append(SensorReading(SENSOR, at, people))
        at += step
    return out


def empty_until(now: datetime, *, since: datetime | None = None) -> SpaceEvidence:
    first = START - minutes(30) if since is None else since
    return SpaceEvidence(sensors=(SENSOR,), readings=tuple(readings(0, start=first, end=now)))


def evaluate(
    now: datetime, bookings: list[BookingFacts], evidence: SpaceEvidence, policy: ReleasePolicy = POLICY
) -> SpaceDecision:
    return evaluate_space(now=now, policy=policy, bookings=bookings, evidence=evidence)


def kinds(decision: SpaceDecision) -> list[str]:
    return [type(action).__name__ for action in decision.actions]


def test_a_booking_before_its_check_in_window_waits_and_is_due_when_the_window_opens() -> None:
    now = START - minutes(16)
    decision = evaluate(now, [booking()], empty_until(now, since=now - minutes(10)))
    assert decision.actions == ()
    assert decision.next_due == START - POLICY.checkin_opens
    far = START - minutes(40)
    assert evaluate(far, [booking()], empty_until(far, since=far - minutes(10))).next_due == far + minutes(2), (
        "idle cadence"
    )


def test_a_no_show_is_warned_then_released_on_time_with_its_evidence() -> None:
    at_warn = START + POLICY.warn_after
    decision = evaluate(at_warn, [booking()], empty_until(at_warn))
    assert kinds(decision) == ["Warn"]
    warn = decision.actions[0]
    assert isinstance(warn, Warn)
    assert warn.release_at == START + POLICY.grace
    assert decision.next_due <= START + POLICY.grace

    warned = booking(warned_at=at_warn)
    before = START + POLICY.grace - timedelta(seconds=1)
    assert not any(isinstance(a, Release) for a in evaluate(before, [warned], empty_until(before)).actions)
    due = START + POLICY.grace
    decision = evaluate(due, [warned], empty_until(due))
    assert kinds(decision) == ["Release"]
    release = decision.actions[0]
    assert isinstance(release, Release)
    assert (release.freed_from, release.freed_until) == (due, END)
    assert release.evidence["presence"] == "absent"
    assert release.evidence["timers"]["release_at"] == "2026-11-27T01:10:00Z"
    assert release.evidence["readings"], "the readings behind the decision are kept"


def test_people_seen_in_the_window_check_the_booking_in_instead() -> None:
    now = START + minutes(12)
    seen = SensorReading(SENSOR, START + minutes(3), 4)
    evidence = SpaceEvidence(sensors=(SENSOR,), readings=(*readings(0, start=START - minutes(20), end=now), seen))
    decision = evaluate(now, [booking()], evidence)
    assert kinds(decision) == ["CheckIn"]
    check_in = decision.actions[0]
    assert isinstance(check_in, CheckIn)
    assert check_in.at == seen.at
    assert check_in.source == "sensor"


def test_a_card_read_at_the_door_checks_the_booking_in() -> None:
    now = START + minutes(2)
    evidence = replace(empty_until(now), badge_ins=(BadgeIn("room-door", START + minutes(1)),))
    decision = evaluate(now, [booking()], evidence)
    assert [(type(a).__name__, getattr(a, "source", None)) for a in decision.actions] == [("CheckIn", "badge")]


def test_early_arrivals_count_from_the_window_but_not_before_the_previous_booking_ended() -> None:
    previous = BookingFacts(2, 8, START - minutes(60), START - minutes(5), BookingStatus.CHECKED_IN)
    lingering = SensorReading(SENSOR, START - minutes(8), 3)  # the previous booking's people leaving
    now = START + POLICY.grace
    evidence = SpaceEvidence(sensors=(SENSOR,), readings=(lingering, *readings(0, start=START - minutes(6), end=now)))
    decision = evaluate(now, [previous, booking(warned_at=START + minutes(5))], evidence)
    assert kinds(decision) == ["Release"]


def test_a_stale_sensor_withholds_the_release() -> None:
    now = START + POLICY.grace + minutes(1)
    evidence = SpaceEvidence(
        sensors=(SENSOR,), readings=tuple(readings(0, start=START - minutes(20), end=START + minutes(4)))
    )
    decision = evaluate(now, [booking(warned_at=START + minutes(5))], evidence)
    assert kinds(decision) == ["Withheld"]
    withheld = decision.actions[0]
    assert isinstance(withheld, Withheld)
    assert withheld.reason == f"presence unknown: no fresh reading from {SENSOR}"
    assert "stale" in withheld.evidence["presence_detail"]
    assert decision.state.presence.presence is Presence.UNKNOWN


def test_one_silent_sensor_of_two_withholds_the_release() -> None:
    now = START + POLICY.grace
    evidence = SpaceEvidence(
        sensors=(SENSOR, "second"), readings=tuple(readings(0, start=START - minutes(20), end=now))
    )
    assert kinds(evaluate(now, [booking(warned_at=START)], evidence)) == ["Withheld"]


def test_a_space_without_sensors_is_released_only_when_its_policy_says_so() -> None:
    now = START + POLICY.grace
    nothing = SpaceEvidence(sensors=())
    assert kinds(evaluate(now, [booking(warned_at=START)], nothing)) == ["Withheld"]
    lenient = replace(POLICY, release_without_sensor=True)
    assert kinds(evaluate(now, [booking(warned_at=START)], nothing, lenient)) == ["Release"]


def test_people_still_there_from_the_previous_booking_withhold_the_release() -> None:
    previous = BookingFacts(2, 8, START - minutes(60), START, BookingStatus.CHECKED_IN)
    now = START + POLICY.grace
    # A sensor that reports every 15 minutes, counted fresh for 20: its newest reading is from before the window.
    lingering = SensorReading(SENSOR, START - minutes(1), 2)
    evidence = SpaceEvidence(sensors=(SENSOR,), readings=(lingering,), stale_after=minutes(20))
    decision = evaluate(now, [previous, booking(warned_at=START + minutes(5))], evidence)
    assert kinds(decision) == ["Withheld"]
    withheld = decision.actions[0]
    assert isinstance(withheld, Withheld)
    assert withheld.reason.startswith("people present")


def test_kept_and_all_day_bookings_are_never_released_and_off_never_releases() -> None:
    now = START + POLICY.grace + minutes(5)
    assert release_at(booking(kept_at=START), POLICY) is None
    assert evaluate(now, [booking(kept_at=START + minutes(6))], empty_until(now)).actions == ()
    all_day = booking(end=START + timedelta(hours=9))
    assert release_at(all_day, POLICY) is None
    assert evaluate(now, [all_day], empty_until(now)).actions == ()
    off = replace(POLICY, mode=PolicyMode.OFF)
    assert evaluate(now, [booking()], empty_until(now), off).actions == ()


def test_grace_counts_from_a_late_confirmation() -> None:
    late = booking(confirmed_at=START + minutes(20))
    assert release_at(late, POLICY) == START + minutes(30)
    now = START + minutes(25)
    decision = evaluate(now, [late], empty_until(now))
    assert kinds(decision) == ["Warn"]


def test_shadow_mode_records_would_release_once_and_a_false_release_when_people_come() -> None:
    shadow = replace(POLICY, mode=PolicyMode.SHADOW)
    now = START + POLICY.grace
    decision = evaluate(now, [booking()], empty_until(now), shadow)
    assert kinds(decision) == ["WouldRelease"]
    assert isinstance(decision.actions[0], WouldRelease)
    would = booking(shadow_release_at=now)
    assert evaluate(now + minutes(1), [would], empty_until(now + minutes(1)), shadow).actions == ()
    later = now + minutes(6)
    evidence = SpaceEvidence(
        sensors=(SENSOR,),
        readings=(*readings(0, start=START - minutes(20), end=later), SensorReading(SENSOR, now + minutes(5), 3)),
    )
    decision = evaluate(later, [would], evidence, shadow)
    assert kinds(decision) == ["ShadowFalseRelease", "CheckIn"]
    assert isinstance(decision.actions[0], ShadowFalseRelease)


def test_people_arriving_after_a_release_undo_it_and_withdraw_the_unaccepted_hold() -> None:
    released_at = START + POLICY.grace
    released = booking(status=BookingStatus.RELEASED, released_at=released_at)
    hold = BookingFacts(
        5, 9, released_at, END, BookingStatus.HELD, hold_expires_at=released_at + minutes(10), released_from=1
    )
    now = released_at + minutes(6)
    arrival = SensorReading(SENSOR, released_at + minutes(5), 5)
    evidence = SpaceEvidence(sensors=(SENSOR,), readings=(*readings(0, start=START, end=now), arrival))
    decision = evaluate(now, [released, hold], evidence)
    assert kinds(decision) == ["Undo"]
    undo = decision.actions[0]
    assert isinstance(undo, Undo)
    assert undo.withdraw_holds == (5,)
    assert undo.at == arrival.at


def test_no_undo_after_the_window_or_once_the_offer_was_accepted() -> None:
    released_at = START + POLICY.grace
    released = booking(status=BookingStatus.RELEASED, released_at=released_at)
    late = released_at + POLICY.undo_window + minutes(1)
    arrival = (SensorReading(SENSOR, late, 5),)
    assert not any(isinstance(a, Undo) for a in evaluate(late, [released], SpaceEvidence((SENSOR,), arrival)).actions)
    accepted = BookingFacts(5, 9, released_at, END, BookingStatus.CONFIRMED, released_from=1, confirmed_at=released_at)
    soon = released_at + minutes(3)
    decision = evaluate(soon, [released, accepted], SpaceEvidence((SENSOR,), (SensorReading(SENSOR, soon, 5),)))
    assert not any(isinstance(a, Undo) for a in decision.actions)


def test_a_checked_in_room_empty_for_the_set_time_is_ended_early() -> None:
    checked = booking(status=BookingStatus.CHECKED_IN, checked_in_at=START, end=START + timedelta(hours=2))
    last_people = START + minutes(20)
    now = last_people + minutes(17)
    evidence = SpaceEvidence(
        sensors=(SENSOR,),
        readings=(*readings(3, start=START, end=last_people), *readings(0, start=last_people + minutes(1), end=now)),
    )
    decision = evaluate(now, [checked], evidence)
    assert kinds(decision) == ["EndEarly"]
    end_early = decision.actions[0]
    assert isinstance(end_early, EndEarly)
    assert end_early.emptied_at == last_people + minutes(1)
    assert end_early.at == now


def test_no_early_end_with_a_gap_in_the_readings_or_too_little_left() -> None:
    checked = booking(status=BookingStatus.CHECKED_IN, checked_in_at=START, end=START + timedelta(hours=2))
    last_people = START + minutes(20)
    now = last_people + minutes(20)
    gappy = SpaceEvidence(
        sensors=(SENSOR,),
        readings=(
            *readings(3, start=START, end=last_people),
            SensorReading(SENSOR, last_people + minutes(1), 0),
            *readings(0, start=now - minutes(2), end=now),
        ),
    )
    assert evaluate(now, [checked], gappy).actions == ()
    short = replace(checked, end=now + minutes(10))
    full = SpaceEvidence(
        (SENSOR,), (*readings(3, start=START, end=last_people), *readings(0, start=last_people + minutes(1), end=now))
    )
    assert evaluate(now, [short], full).actions == ()


def test_an_unaccepted_hold_expires() -> None:
    hold = BookingFacts(5, 9, START, END, BookingStatus.HELD, hold_expires_at=START + minutes(10))
    assert evaluate(START + minutes(9), [hold], empty_until(START + minutes(9))).actions == ()
    decision = evaluate(START + minutes(10), [hold], empty_until(START + minutes(10)))
    assert kinds(decision) == ["ExpireHold"]
    assert isinstance(decision.actions[0], ExpireHold)


def test_occupied_but_unbooked_use_is_recorded_from_its_first_reading_and_auto_booked_when_the_policy_says() -> None:
    now = START - minutes(60)
    evidence = SpaceEvidence(
        sensors=(SENSOR,),
        readings=(
            *readings(0, start=now - minutes(30), end=now - minutes(10)),
            *readings(2, start=now - minutes(9), end=now),
        ),
    )
    decision = evaluate(now, [], evidence)
    assert kinds(decision) == ["UnbookedUseStarted"]
    started = decision.actions[0]
    assert isinstance(started, UnbookedUseStarted)
    assert started.at == now - minutes(9)
    assert started.auto_book_until is None
    auto = replace(POLICY, auto_book_unbooked=True)
    upcoming = booking(start=now + minutes(40), end=now + minutes(100))
    decision = evaluate(now, [upcoming], evidence, auto)
    assert isinstance(decision.actions[0], UnbookedUseStarted)
    assert decision.actions[0].auto_book_until == upcoming.start


def test_unbooked_use_grows_its_peak_and_ends_when_the_room_empties() -> None:
    now = START - minutes(60)
    use = UnbookedUse(3, now - minutes(20), 2)
    crowd = SpaceEvidence((SENSOR,), tuple(readings(5, start=now - minutes(5), end=now)), unbooked_use=use)
    assert [(type(a).__name__, getattr(a, "people", None)) for a in evaluate(now, [], crowd).actions] == [
        ("UnbookedUsePeak", 5)
    ]
    gone = SpaceEvidence(
        (SENSOR,),
        (*readings(5, start=now - minutes(5), end=now - minutes(3)), *readings(0, start=now - minutes(2), end=now)),
        unbooked_use=use,
    )
    decision = evaluate(now, [], gone)
    assert kinds(decision) == ["UnbookedUseEnded"]
    ended = decision.actions[0]
    assert isinstance(ended, UnbookedUseEnded)
    assert ended.at == now - minutes(2)
    assert not any(isinstance(a, UnbookedUsePeak) for a in decision.actions)


def test_strikes_cancel_a_series_at_the_policys_count() -> None:
    assert not series_should_be_cancelled(strikes=2, policy=POLICY)
    assert series_should_be_cancelled(strikes=3, policy=POLICY)
    assert not series_should_be_cancelled(strikes=9, policy=replace(POLICY, strikes_to_cancel_series=0))


def test_the_room_state_says_why_and_a_stale_sensor_is_never_free() -> None:
    now = START - minutes(60)
    free = describe_room(now=now, policy=POLICY, bookings=[], evidence=empty_until(now, since=now - minutes(5)))
    assert free.state is RoomStateName.FREE
    assert "0 people" in free.reason
    stale = SpaceEvidence((SENSOR,), tuple(readings(0, start=now - minutes(30), end=now - minutes(10))))
    unknown = describe_room(now=now, policy=POLICY, bookings=[], evidence=stale)
    assert unknown.state is RoomStateName.UNKNOWN
    assert "stale" in unknown.reason
    booked = describe_room(now=START + minutes(2), policy=POLICY, bookings=[booking()], evidence=stale)
    assert booked.state is RoomStateName.BOOKED
    assert booked.release_at == START + POLICY.grace
    assert "no release while presence is unknown" in booked.reason
    in_use = describe_room(
        now=START + minutes(2),
        policy=POLICY,
        bookings=[booking(status=BookingStatus.CHECKED_IN, checked_in_at=START)],
        evidence=empty_until(START + minutes(2)),
    )
    assert in_use.state is RoomStateName.IN_USE
    assert in_use.booking_id == 1


def test_an_empty_report_in_the_same_second_as_the_last_people_counts_from_that_second() -> None:
    """Device clocks stamp whole seconds: the report order (seq) says which of two same-second reports came last."""
    checked = booking(status=BookingStatus.CHECKED_IN, checked_in_at=START, end=START + timedelta(hours=2))
    left = START + minutes(20)
    now = left + minutes(16)
    evidence = SpaceEvidence(
        sensors=(SENSOR,),
        readings=(
            SensorReading(SENSOR, left, 0, seq=11),
            SensorReading(SENSOR, left, 3, seq=10),
            *[SensorReading(SENSOR, left + minutes(k), 0, seq=11 + k) for k in range(1, 17)],
        ),
    )
    decision = evaluate(now, [checked], evidence)
    assert kinds(decision) == ["EndEarly"]
    end_early = decision.actions[0]
    assert isinstance(end_early, EndEarly)
    assert end_early.emptied_at == left
