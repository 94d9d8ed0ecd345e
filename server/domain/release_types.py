"""The values the release policy works on and the decisions it returns (no I/O; times on the server's clock).

The scheduler loads one bookable space's facts (:class:`BookingFacts`, :class:`SpaceEvidence`, its
:class:`ReleasePolicy`), calls :func:`server.domain.release.evaluate_space` with ``now``, carries out the returned
actions in one transaction and stores each with its evidence in the audit trail (``booking_event``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class BookingStatus(StrEnum):
    HELD = "held"  # a waitlist offer, kept for its owner until hold_expires_at
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    RELEASED = "released"
    ENDED = "ended"  # ended early: the room stood empty
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a hold nobody accepted
    WITHDRAWN = "withdrawn"  # a hold taken back: the released booking's people came after all


# Bookings that occupy their time range (the database's exclusion constraint covers exactly these).
ACTIVE_STATUSES = frozenset({BookingStatus.HELD, BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN})


class PolicyMode(StrEnum):
    OFF = "off"  # never release; check-ins still recorded
    SHADOW = "shadow"  # record "would have released" (and whether people came after all) without acting
    ENFORCE = "enforce"


@dataclass(frozen=True, slots=True)
class ReleasePolicy:
    """A space's staged release. Defaults follow the peers (Robin and Microsoft: 10 minutes) and the issue."""

    mode: PolicyMode = PolicyMode.ENFORCE
    grace: timedelta = timedelta(minutes=10)  # after the start (or a late confirmation) with nobody: release
    warn_after: timedelta = timedelta(minutes=5)  # panel message and notice with a one-step "keep it"
    checkin_opens: timedelta = timedelta(minutes=15)  # presence this long before the start checks the booking in
    undo_window: timedelta = timedelta(minutes=15)  # people arriving this long after a release get it back
    hold: timedelta = timedelta(minutes=10)  # a waitlist offer is kept this long
    end_early_after: timedelta | None = timedelta(minutes=15)  # a checked-in room empty this long is ended
    exempt_longer_than: timedelta | None = timedelta(hours=8)  # all-day bookings are never auto-released
    strikes_to_cancel_series: int = 3  # no-shows in a row that cancel the rest of a recurring series (0: never)
    auto_book_unbooked: bool = False  # occupied with no booking: book it for the people there
    release_without_sensor: bool = False  # a space with no sensor: release on a missing check-in alone


@dataclass(frozen=True, slots=True)
class BookingFacts:
    """A booking as the policy needs it. ``end`` is upper(during) (moved earlier when it ended early)."""

    id: int
    owner_id: int
    start: datetime
    end: datetime
    status: BookingStatus
    confirmed_at: datetime | None = None  # grace counts from max(start, confirmed_at)
    checked_in_at: datetime | None = None
    warned_at: datetime | None = None
    kept_at: datetime | None = None
    released_at: datetime | None = None
    hold_expires_at: datetime | None = None
    released_from: int | None = None  # a hold: the released booking whose slot it offers
    series_id: int | None = None
    shadow_release_at: datetime | None = None
    shadow_false_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SensorReading:
    """One occupancy reading of one of the space's sensors; ``at`` already on the server's clock."""

    device_id: str
    at: datetime
    people: int
    # The device's report number: orders two reports stamped with the same second (device clocks report whole
    # seconds; at a demo's 720x one second is 12 simulated minutes).
    seq: int = 0


@dataclass(frozen=True, slots=True)
class BadgeIn:
    """A card read at a door of the space (access.v1); ``at`` on the server's clock."""

    device_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class UnbookedUse:
    """The space's open record of occupied-but-unbooked use."""

    id: int
    started_at: datetime
    peak_people: int


@dataclass(frozen=True, slots=True)
class SpaceEvidence:
    """What the space's devices said lately.

    ``readings``: every reading of the space's sensors from ``now - EVIDENCE_LOOKBACK`` on, plus each sensor's
    newest reading before that (so that a sensor that fell silent long ago is seen as stale, not as absent)."""

    sensors: tuple[str, ...]  # the occupancy sensors configured for the space
    readings: tuple[SensorReading, ...] = ()
    badge_ins: tuple[BadgeIn, ...] = ()
    stale_after: timedelta = timedelta(seconds=180)
    unbooked_use: UnbookedUse | None = None


# How far back the scheduler loads readings and badge-ins: the longest span any rule looks at.
EVIDENCE_LOOKBACK = timedelta(hours=1)
# How far around now the scheduler loads the space's bookings (any status): [now - BOOKINGS_BEHIND, now + AHEAD).
BOOKINGS_BEHIND = timedelta(hours=12)
BOOKINGS_AHEAD = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often a space is looked at between its deadlines (the evidence-driven rules need it)."""

    active: timedelta = timedelta(seconds=30)  # a booking in progress, an undo window open, people present
    idle: timedelta = timedelta(minutes=2)  # otherwise (to notice occupied-but-unbooked use)


Evidence = Mapping[str, Any]  # JSON-able: stored with the decision in booking_event.evidence


@dataclass(frozen=True, slots=True)
class CheckIn:
    booking_id: int
    at: datetime
    source: str  # 'sensor' | 'badge'
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Warn:
    booking_id: int
    release_at: datetime
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Release:
    """Give the booking back; the freed range [freed_from, freed_until) is offered to the waitlist."""

    booking_id: int
    freed_from: datetime
    freed_until: datetime
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class WouldRelease:
    """Shadow mode: the booking would have been released now."""

    booking_id: int
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ShadowFalseRelease:
    """Shadow mode: people came after the policy would have released the booking."""

    booking_id: int
    at: datetime
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Withheld:
    """The release is due but was not done (stale sensor, no sensor): recorded once per booking and reason."""

    booking_id: int
    reason: str
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Undo:
    """People came after the release: restore the booking (checked in), withdrawing unaccepted holds on its slot."""

    booking_id: int
    at: datetime
    withdraw_holds: tuple[int, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class EndEarly:
    """The checked-in room has stood empty: end the booking at ``at`` (its ``end`` moves there)."""

    booking_id: int
    at: datetime
    emptied_at: datetime
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ExpireHold:
    """A waitlist hold nobody accepted: expire it and offer its range to the next waiting entry."""

    booking_id: int
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class UnbookedUseStarted:
    at: datetime
    people: int
    auto_book_until: datetime | None  # the policy books [at, auto_book_until) for the people there; None: no
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class UnbookedUsePeak:
    use_id: int
    people: int


@dataclass(frozen=True, slots=True)
class UnbookedUseEnded:
    use_id: int
    at: datetime
    evidence: Evidence


Action = (
    CheckIn
    | Warn
    | Release
    | WouldRelease
    | ShadowFalseRelease
    | Withheld
    | Undo
    | EndEarly
    | ExpireHold
    | UnbookedUseStarted
    | UnbookedUsePeak
    | UnbookedUseEnded
)


class RoomStateName(StrEnum):
    IN_USE = "in_use"  # a booking, and somebody checked in
    BOOKED = "booked"  # a booking waiting for its people (release_at says until when)
    HELD = "held"  # kept for a waitlist offer
    OCCUPIED_UNBOOKED = "occupied_unbooked"
    FREE = "free"  # no booking now and the sensors say empty
    UNKNOWN = "unknown"  # no booking now and no fresh sensor: it may or may not be in use


class Presence(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"  # no sensor, or a silent or stale one: never read as absent


@dataclass(frozen=True, slots=True)
class PresenceNow:
    presence: Presence
    people: int | None
    reason: str
    stale_sensors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoomState:
    """One explainable state of a bookable space at ``now``."""

    state: RoomStateName
    presence: PresenceNow
    booking_id: int | None
    release_at: datetime | None  # a booking waiting for its people: released then unless somebody comes
    reason: str
    evidence: Evidence = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpaceDecision:
    actions: tuple[Action, ...]
    next_due: datetime  # when the scheduler must look at this space again
    state: RoomState
