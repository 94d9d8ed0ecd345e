"""One explainable state per bookable space: the booking, check-in, sensors and card reads fused (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from server.domain.presence import SpaceView
from server.domain.release_types import (
    BookingFacts,
    BookingStatus,
    PolicyMode,
    Presence,
    ReleasePolicy,
    RoomState,
    RoomStateName,
)
from server.domain.timefmt import utc_text

# Bookings whose people may be in the room (a booking that ended early or was released is over).
_USING = frozenset({BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.HELD})


def check_in_opens(booking: BookingFacts, bookings: Sequence[BookingFacts], policy: ReleasePolicy) -> datetime:
    """When presence starts to count for ``booking``: checkin_opens before its start, but never before the end of
    the space's previous booking (whose people may still be leaving)."""
    opens = booking.start - policy.checkin_opens
    previous = [
        other.end
        for other in bookings
        if other.id != booking.id
        and other.status in (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.ENDED)
        and other.end <= booking.start
    ]
    return max([opens, *previous])


def describe_room_view(
    *, now: datetime, policy: ReleasePolicy, bookings: Sequence[BookingFacts], view: SpaceView
) -> RoomState:
    from server.domain.release import release_at  # one module each; release imports this one at load time

    presence = view.presence_now(now)
    evidence = view.summary(now)
    current = _current_booking(now, policy, bookings)
    if current is not None:
        evidence["booking"] = {"id": current.id, "start": utc_text(current.start), "end": utc_text(current.end)}
        seen = f"presence {presence.presence.value}: {presence.reason}"
        if current.status is BookingStatus.CHECKED_IN:
            since = "" if current.checked_in_at is None else f" at {utc_text(current.checked_in_at)}"
            return RoomState(
                RoomStateName.IN_USE,
                presence,
                current.id,
                None,
                f"booking {current.id} checked in{since}; {seen}",
                evidence,
            )
        if current.status is BookingStatus.HELD:
            until = "" if current.hold_expires_at is None else f" until {utc_text(current.hold_expires_at)}"
            return RoomState(
                RoomStateName.HELD, presence, current.id, None, f"held for a waitlist offer{until}; {seen}", evidence
            )
        release = release_at(current, policy)
        if release is None:
            why = "kept by its organiser" if current.kept_at is not None else f"release policy {policy.mode.value}"
            if policy.mode is not PolicyMode.OFF and current.kept_at is None:
                why = "exempt from release (long booking)"
            text = f"booking {current.id} waiting for its people ({why}); {seen}"
        else:
            text = f"booking {current.id} waiting for its people; released at {utc_text(release)} unless somebody comes"
            text += f"; {seen}"
            if presence.presence is Presence.UNKNOWN:
                text += " (no release while presence is unknown)"
        return RoomState(RoomStateName.BOOKED, presence, current.id, release, text, evidence)
    if presence.presence is Presence.PRESENT:
        return RoomState(
            RoomStateName.OCCUPIED_UNBOOKED, presence, None, None, f"no booking, but {presence.reason}", evidence
        )
    if presence.presence is Presence.ABSENT:
        return RoomState(RoomStateName.FREE, presence, None, None, f"no booking; {presence.reason}", evidence)
    return RoomState(
        RoomStateName.UNKNOWN,
        presence,
        None,
        None,
        f"no booking; cannot tell if anyone is there: {presence.reason}",
        evidence,
    )


def _current_booking(now: datetime, policy: ReleasePolicy, bookings: Sequence[BookingFacts]) -> BookingFacts | None:
    """The booking that holds the space now: checked in or held over its range, confirmed from its check-in window."""
    for booking in sorted(bookings, key=lambda b: (b.start, b.id)):
        if booking.status not in _USING or now >= booking.end:
            continue
        opens = booking.start if booking.status is BookingStatus.HELD else check_in_opens(booking, bookings, policy)
        if booking.status is BookingStatus.CHECKED_IN and booking.checked_in_at is not None:
            opens = min(opens, booking.checked_in_at)
        if opens <= now:
            return booking
    return None
