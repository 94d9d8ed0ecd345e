"""The staged, reversible release of booked rooms nobody uses — without ever taking a room from people in it.

For one bookable space at ``now`` (the server's clock), :func:`evaluate_space` returns what to do, with the
evidence for each decision, and when to look again. The stages of a booking nobody checked in to:

    check-in window opens (start - checkin_opens, never before the previous booking's end)
      └ people seen (a sensor counts somebody, or a card is read at the door) → checked in
    start (or the confirmation of a booking made late) + warn_after → warning: a panel message and a notice to the
      organiser with a one-step "keep it" (kept bookings are never auto-released)
    start + grace → released, only if every sensor of the space is fresh and counts nobody; a silent or stale
      sensor withholds the release (unknown is never empty); the freed time goes to the waitlist as a hold
    released_at + undo_window → people seen after the release restore the booking (unaccepted holds withdrawn)

A checked-in booking whose room has stood empty for end_early_after (every sensor reporting throughout) is ended
early; people in the space with no booking are recorded as unbooked use (and booked for them if the policy says).
In shadow mode nothing is done to bookings: "would have released" is recorded, and so is the arrival of people
afterwards (a false release the policy would have made).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from server.domain.presence import SpaceView, span_text
from server.domain.release_types import (
    ACTIVE_STATUSES,
    EVIDENCE_LOOKBACK,
    Action,
    BookingFacts,
    BookingStatus,
    Cadence,
    CheckIn,
    EndEarly,
    ExpireHold,
    PolicyMode,
    Presence,
    Release,
    ReleasePolicy,
    RoomState,
    ShadowFalseRelease,
    SpaceDecision,
    SpaceEvidence,
    UnbookedUseEnded,
    UnbookedUsePeak,
    UnbookedUseStarted,
    Undo,
    Warn,
    Withheld,
    WouldRelease,
)
from server.domain.room_state import check_in_opens, describe_room_view
from server.domain.timefmt import utc_text

# Ending a booking early frees the room for others only if enough of it is left to be worth booking.
MIN_LEFT_TO_END_EARLY = timedelta(minutes=15)
# An occupied-but-unbooked space is booked for its people (when the policy says so) until the next booking or
# this long, whichever comes first; not at all when less than MIN_AUTO_BOOKING is free.
AUTO_BOOKING = timedelta(hours=1)
MIN_AUTO_BOOKING = timedelta(minutes=15)
_SOON = timedelta(milliseconds=1)
DEFAULT_CADENCE = Cadence()


def release_at(booking: BookingFacts, policy: ReleasePolicy) -> datetime | None:
    """When an unchecked booking is released under ``policy``; None if it never is (off, kept, exempt)."""
    if policy.mode is PolicyMode.OFF or booking.kept_at is not None or _exempt(booking, policy):
        return None
    return _counting_from(booking) + policy.grace


def series_should_be_cancelled(*, strikes: int, policy: ReleasePolicy) -> bool:
    """A recurring series whose occurrences were released as no-shows ``strikes`` times in a row."""
    return policy.strikes_to_cancel_series > 0 and strikes >= policy.strikes_to_cancel_series


def evaluate_space(
    *,
    now: datetime,
    policy: ReleasePolicy,
    bookings: Sequence[BookingFacts],
    evidence: SpaceEvidence,
    cadence: Cadence = DEFAULT_CADENCE,
) -> SpaceDecision:
    view = SpaceView(evidence)
    rules = _Rules(now, policy, bookings, view)
    for booking in sorted(bookings, key=lambda b: (b.start, b.id)):
        if booking.status is BookingStatus.CONFIRMED:
            rules.confirmed(booking)
        elif booking.status is BookingStatus.CHECKED_IN:
            rules.checked_in(booking)
        elif booking.status is BookingStatus.RELEASED:
            rules.released(booking)
        elif booking.status is BookingStatus.HELD:
            rules.held(booking)
    rules.unbooked_use()
    next_due = min(rules.due, default=now + cadence.idle)
    if rules.live:
        next_due = min(next_due, now + cadence.active)
    next_due = max(min(next_due, now + cadence.idle), now + _SOON)
    state = describe_room_view(now=now, policy=policy, bookings=bookings, view=view)
    return SpaceDecision(tuple(rules.actions), next_due, state)


def describe_room(
    *, now: datetime, policy: ReleasePolicy, bookings: Sequence[BookingFacts], evidence: SpaceEvidence
) -> RoomState:
    """One explainable state of the space at ``now``: the booking, the presence, and why."""
    return describe_room_view(now=now, policy=policy, bookings=bookings, view=SpaceView(evidence))


def _counting_from(booking: BookingFacts) -> datetime:
    """Grace counts from the start, or from the confirmation of a booking made (or a hold accepted) later."""
    return max(booking.start, booking.confirmed_at or booking.start)


def _exempt(booking: BookingFacts, policy: ReleasePolicy) -> bool:
    return policy.exempt_longer_than is not None and booking.end - booking.start > policy.exempt_longer_than


class _Rules:
    def __init__(self, now: datetime, policy: ReleasePolicy, bookings: Sequence[BookingFacts], view: SpaceView) -> None:
        self.now = now
        self.policy = policy
        self.bookings = bookings
        self.view = view
        self.actions: list[Action] = []
        self.due: list[datetime] = []
        self.live = False  # something here needs looking at often (a booking in progress, people present)
        self.claimed: set[int] = set()  # bookings that now hold the space (for the unbooked-use rule)

    def _later(self, at: datetime) -> None:
        if at > self.now:
            self.due.append(at)

    def _timers(self, booking: BookingFacts, release: datetime | None) -> dict[str, str | None]:
        return {
            "start": utc_text(booking.start),
            "end": utc_text(booking.end),
            "counting_from": utc_text(_counting_from(booking)),
            "check_in_opens": utc_text(check_in_opens(booking, self.bookings, self.policy)),
            "warn_at": utc_text(_counting_from(booking) + self.policy.warn_after),
            "release_at": None if release is None else utc_text(release),
        }

    def confirmed(self, booking: BookingFacts) -> None:
        now, policy = self.now, self.policy
        opens = check_in_opens(booking, self.bookings, policy)
        if now >= booking.end:
            return
        if now < opens:
            self._later(opens)
            return
        self.live = True
        self.claimed.add(booking.id)
        release = release_at(booking, policy)
        sighting = self.view.first_sighting(opens, now)
        if sighting is not None:
            evidence = {"sighting": sighting.detail, "timers": self._timers(booking, release)}
            shadow_at = booking.shadow_release_at
            if shadow_at is not None and booking.shadow_false_at is None and sighting.at >= shadow_at:
                self.actions.append(ShadowFalseRelease(booking.id, sighting.at, evidence))
            self.actions.append(CheckIn(booking.id, sighting.at, sighting.source, evidence))
            return
        if release is None:
            return
        warn = _counting_from(booking) + policy.warn_after
        if now < warn:
            self._later(warn)
        elif policy.mode is PolicyMode.ENFORCE and booking.warned_at is None and now < release:
            evidence = {"timers": self._timers(booking, release), **self.view.summary(now, since=opens)}
            self.actions.append(Warn(booking.id, release, evidence))
        if now < release:
            self._later(release)
            return
        self._release(booking, release, opens)

    def _release(self, booking: BookingFacts, release: datetime, opens: datetime) -> None:
        now, policy = self.now, self.policy
        presence = self.view.presence_now(now)
        evidence = {"timers": self._timers(booking, release), **self.view.summary(now, since=opens)}
        if not self.view.has_sensors and policy.release_without_sensor:
            evidence["rule"] = "no sensor in this space: released on a missing check-in alone (policy)"
        elif presence.presence is Presence.UNKNOWN:
            # A stable reason (no ages in it): the audit trail records a withheld release once per reason.
            why = (
                f"presence unknown: no fresh reading from {', '.join(presence.stale_sensors)}"
                if self.view.has_sensors
                else presence.reason
            )
            evidence["presence_detail"] = presence.reason
            self.actions.append(Withheld(booking.id, why, evidence))
            return
        elif presence.presence is Presence.PRESENT:
            # People counted now, but none seen since the check-in window opened: they came before it (the previous
            # booking's people, or people with no booking). Not this booking's no-show to call.
            self.actions.append(Withheld(booking.id, "people present since before the check-in window", evidence))
            return
        if policy.mode is PolicyMode.SHADOW:
            if booking.shadow_release_at is None:
                self.actions.append(WouldRelease(booking.id, evidence))
            return
        if booking.warned_at is None:
            evidence["warning"] = "not sent: the release was due before a warning could be (server not running)"
        self.actions.append(Release(booking.id, max(now, booking.start), booking.end, evidence))
        self.claimed.discard(booking.id)

    def checked_in(self, booking: BookingFacts) -> None:
        now, policy, view = self.now, self.policy, self.view
        if now >= booking.end or now < booking.start - policy.checkin_opens:
            if now < booking.end:
                self._later(booking.start - policy.checkin_opens)
            return
        self.live = True
        self.claimed.add(booking.id)
        after = policy.end_early_after
        if after is None or not view.has_sensors or booking.end - now < MIN_LEFT_TO_END_EARLY:
            return
        if view.presence_now(now).presence is not Presence.ABSENT:
            return
        horizon = now - EVIDENCE_LOOKBACK  # nothing older is loaded
        last = view.last_people_at(max(horizon, booking.start - policy.checkin_opens), now)
        if last is None:
            last = (
                booking.checked_in_at
                if booking.checked_in_at is not None and booking.checked_in_at > horizon
                else horizon
            )
        emptied = view.empty_since(last, now)
        if emptied is None or now - emptied < after or not view.covered(emptied, now):
            return
        evidence = {
            "last_people_at": utc_text(last),
            "emptied_at": utc_text(emptied),
            "rule": f"empty for {span_text(now - emptied)} (end early after {span_text(after)})",
            **view.summary(now, since=last),
        }
        self.actions.append(EndEarly(booking.id, now, emptied, evidence))
        self.claimed.discard(booking.id)

    def released(self, booking: BookingFacts) -> None:
        now = self.now
        released = booking.released_at
        if released is None or now >= booking.end:
            return
        closes = released + self.policy.undo_window
        if now > closes:
            return
        self.live = True
        self._later(closes)
        sighting = self.view.first_sighting(released, now, after=True)
        if sighting is None:
            return
        holds = [
            b for b in self.bookings if b.released_from == booking.id and b.status in ACTIVE_STATUSES and b.end > now
        ]
        if any(b.status is not BookingStatus.HELD for b in holds):
            return  # a waitlist offer was accepted: the slot is someone else's now; seen as their presence
        evidence = {
            "sighting": sighting.detail,
            "released_at": utc_text(released),
            "undo_window_closes": utc_text(closes),
        }
        self.actions.append(Undo(booking.id, sighting.at, tuple(b.id for b in holds), evidence))
        self.claimed.add(booking.id)

    def held(self, booking: BookingFacts) -> None:
        expires = booking.hold_expires_at
        if expires is None or self.now >= booking.end:
            return
        self.live = True
        self.claimed.add(booking.id)
        if self.now >= expires:
            self.actions.append(ExpireHold(booking.id, {"hold_expires_at": utc_text(expires)}))
            self.claimed.discard(booking.id)
        else:
            self._later(expires)

    def unbooked_use(self) -> None:
        now, view = self.now, self.view
        use = view.evidence.unbooked_use
        presence = view.presence_now(now)
        covered = bool(self.claimed)
        if use is not None:
            self.live = True
            if covered or presence.presence is Presence.ABSENT:
                last = view.last_people_at(use.started_at, now) or use.started_at
                ended = now if covered else (view.empty_since(last, now) or now)
                evidence = {
                    "rule": "a booking covers the space now" if covered else "nobody counted",
                    **view.summary(now),
                }
                self.actions.append(UnbookedUseEnded(use.id, ended, evidence))
            elif presence.people is not None and presence.people > use.peak_people:
                self.actions.append(UnbookedUsePeak(use.id, presence.people))
            return
        if covered or presence.presence is not Presence.PRESENT:
            return
        self.live = True
        started = view.presence_run_start(now)
        until = None
        if self.policy.auto_book_unbooked:
            upcoming = [b.start for b in self.bookings if b.status in ACTIVE_STATUSES and b.start > now]
            until = min([now + AUTO_BOOKING, *upcoming])
            if until - now < MIN_AUTO_BOOKING:
                until = None
        people = presence.people or 0
        self.actions.append(UnbookedUseStarted(started, people, until, view.summary(now)))
