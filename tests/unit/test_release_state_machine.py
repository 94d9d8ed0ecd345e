"""A property-based state machine over the release policy (hypothesis): time passes, people come and go, the sensor
fails and recovers, cards are read, the organiser keeps the room; after every evaluation the invariants hold:

- a booking is never both checked in and released (a release never follows a check-in; one decision never does both);
- it is never released while its sensor is silent or stale, nor while the sensor counts people;
- it is released at most once;
- an undo restores the booking (checked in, same time range).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from server.domain.release import evaluate_space
from server.domain.release_types import (
    EVIDENCE_LOOKBACK,
    BadgeIn,
    BookingFacts,
    BookingStatus,
    CheckIn,
    EndEarly,
    PolicyMode,
    Release,
    ReleasePolicy,
    SensorReading,
    SpaceEvidence,
    Undo,
    Warn,
    WouldRelease,
)

START = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
SENSOR = "room-occupancy"
STALE_AFTER = timedelta(minutes=3)
REPORT_EVERY = timedelta(minutes=1)


class ReleaseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.policy = ReleasePolicy()
        self.now = START - timedelta(minutes=5)
        self.booking = BookingFacts(
            1, 7, START, START + timedelta(minutes=90), BookingStatus.CONFIRMED, confirmed_at=START - timedelta(days=1)
        )
        self.people = 0
        self.sensor_up = True
        self.readings: list[SensorReading] = [SensorReading(SENSOR, self.now, 0)]
        self.badges: list[BadgeIn] = []
        self.releases = 0
        self.checked_in_ever = False

    @rule(mode=st.sampled_from([PolicyMode.ENFORCE, PolicyMode.SHADOW]))
    def choose_mode(self, mode: PolicyMode) -> None:
        self.policy = replace(self.policy, mode=mode)

    @rule(minutes=st.integers(min_value=1, max_value=12))
    def time_passes(self, minutes: int) -> None:
        self._advance(self.now + timedelta(minutes=minutes))

    @rule(after_start=st.sampled_from([5, 10, 11, 16, 25, 40]))
    def time_passes_to_a_deadline(self, after_start: int) -> None:
        """Straight to the moments the policy acts at: the warning, the release, the undo window, an early end."""
        self._advance(max(self.now, START + timedelta(minutes=after_start)))

    def _advance(self, until: datetime) -> None:
        last = self.readings[-1].at
        while self.sensor_up and last + REPORT_EVERY <= until:
            last += REPORT_EVERY
            self.readings.append(SensorReading(SENSOR, last, self.people))
        self.now = until

    @rule(people=st.sampled_from([0, 0, 1, 3]))
    def people_change(self, people: int) -> None:
        self.people = people
        if self.sensor_up:  # a trigger report on every change, like the VS121
            self.readings.append(SensorReading(SENSOR, self.now, people))

    @rule()
    def sensor_fails(self) -> None:
        self.sensor_up = False

    @rule()
    def sensor_recovers(self) -> None:
        self.sensor_up = True
        self.readings.append(SensorReading(SENSOR, self.now, self.people))

    @rule()
    def card_read_at_the_door(self) -> None:
        self.badges.append(BadgeIn("room-door", self.now))

    @precondition(lambda self: self.booking.status is BookingStatus.CONFIRMED)
    @rule()
    def organiser_keeps_it(self) -> None:
        self.booking = replace(self.booking, kept_at=self.now)

    @rule()
    def scheduler_runs(self) -> None:
        window = self.now - EVIDENCE_LOOKBACK
        evidence = SpaceEvidence(
            sensors=(SENSOR,),
            readings=tuple(r for r in self.readings if r.at >= window or r is self.readings[-1]),
            badge_ins=tuple(b for b in self.badges if b.at >= window),
            stale_after=STALE_AFTER,
        )
        decision = evaluate_space(now=self.now, policy=self.policy, bookings=[self.booking], evidence=evidence)
        kinds = {type(action) for action in decision.actions}
        assert not {CheckIn, Release} <= kinds, "one decision both checked in and released"
        assert decision.next_due > self.now
        for action in decision.actions:
            event(type(action).__name__)  # --hypothesis-show-statistics shows how often each path ran
            self._apply(action)

    def _apply(self, action: object) -> None:
        booking = self.booking
        if isinstance(action, CheckIn):
            assert booking.status is BookingStatus.CONFIRMED
            self.booking = replace(booking, status=BookingStatus.CHECKED_IN, checked_in_at=action.at)
            self.checked_in_ever = True
        elif isinstance(action, Warn):
            self.booking = replace(booking, warned_at=self.now)
        elif isinstance(action, Release):
            newest = self.readings[-1]
            assert booking.status is BookingStatus.CONFIRMED
            assert not self.checked_in_ever
            assert booking.kept_at is None, "a kept booking was released"
            assert self.now - newest.at <= STALE_AFTER, "released on a stale sensor"
            assert newest.people == 0, "released while the sensor counts people"
            assert self.policy.mode is PolicyMode.ENFORCE
            self.releases += 1
            self.booking = replace(booking, status=BookingStatus.RELEASED, released_at=self.now)
        elif isinstance(action, WouldRelease):
            assert self.policy.mode is PolicyMode.SHADOW
            self.booking = replace(booking, shadow_release_at=self.now)
        elif isinstance(action, Undo):
            assert booking.status is BookingStatus.RELEASED
            self.booking = replace(booking, status=BookingStatus.CHECKED_IN, checked_in_at=action.at)
            self.checked_in_ever = True
            assert (self.booking.start, self.booking.end) == (booking.start, booking.end)
        elif isinstance(action, EndEarly):
            assert booking.status is BookingStatus.CHECKED_IN
            self.booking = replace(booking, status=BookingStatus.ENDED, end=action.at)

    @invariant()
    def released_at_most_once(self) -> None:
        assert self.releases <= 1

    @invariant()
    def never_both_checked_in_and_released(self) -> None:
        if self.booking.status is BookingStatus.RELEASED:
            assert self.booking.checked_in_at is None


ReleaseMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
test_release_policy_state_machine = ReleaseMachine.TestCase
