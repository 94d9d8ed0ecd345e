"""Carrying out the release policy's decisions for one space, in the scheduler's transaction.

Each action of a :class:`~server.domain.release_types.SpaceDecision` changes the booking only from the status the
decision saw (``WHERE status = ...``): a booking changed through the API in the meantime is left alone and looked at
again next time. Every decision is stored in the audit trail (``booking_event``) with its evidence and the replica
that took it. Panel commands are not sent here: they are returned, to be sent after the commit
(server/release/panels.py), so that a slow or absent broker never holds the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, LiteralString

import psycopg
from psycopg.rows import tuple_row

from server.db.booking_events import record_event
from server.db.errors import DatabaseError, translated_errors
from server.db.notices import create_notice
from server.db.series_strikes import count_strike, reset_strikes
from server.db.unbooked_use import end_unbooked_use, raise_unbooked_peak, start_unbooked_use
from server.db.waitlist_offers import SpaceRef, expire_hold, is_exclusion_violation, offer_freed_range, withdraw_hold
from server.domain.release_types import (
    Action,
    CheckIn,
    EndEarly,
    ExpireHold,
    PolicyMode,
    Release,
    ReleasePolicy,
    ShadowFalseRelease,
    UnbookedUseEnded,
    UnbookedUsePeak,
    UnbookedUseStarted,
    Undo,
    Warn,
    Withheld,
    WouldRelease,
)
from server.release.texts import panel_warning, released_notice, warning_notice

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PanelMessage:
    """A display command to send after the commit; its outcome is written into the event ``event_id``."""

    event_id: int
    site_id: str
    device_id: str
    text: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ApplyContext:
    space: SpaceRef
    now: datetime
    policy: ReleasePolicy
    scheduler_id: str
    displays: tuple[str, ...]  # the space's display devices (room panels)
    panels_unavailable: str | None  # why display commands cannot be sent now (commands off, broker down); None: can
    sensor_devices: frozenset[str]  # a sighting by one of these is a sensor's, by any other device a card read's


@dataclass(slots=True)
class Applied:
    panel_messages: list[PanelMessage] = field(default_factory=list)
    deadlines: list[datetime] = field(default_factory=list)  # new ones the decision did not know (holds offered)
    events: list[str] = field(default_factory=list)


def apply_actions(connection: psycopg.Connection, *, context: ApplyContext, actions: Sequence[Action]) -> Applied:
    applied = _Applier(connection, context)
    for action in actions:
        applied.apply(action)
    return applied.result


class _Applier:
    def __init__(self, connection: psycopg.Connection, context: ApplyContext) -> None:
        self.connection = connection
        self.context = context
        self.space = context.space
        self.now = context.now
        self.result = Applied()

    def _event(
        self,
        kind: str,
        booking_id: int | None,
        evidence: Mapping[str, Any],
        *,
        detail: str = "",
        mode: Literal["enforce", "shadow"] = "enforce",
    ) -> int:
        self.result.events.append(kind)
        return record_event(
            self.connection,
            at=self.now,
            site_id=self.space.site_id,
            space_id=self.space.space_id,
            booking_id=booking_id,
            kind=kind,
            mode=mode,
            detail=detail,
            evidence={**evidence, "scheduler": self.context.scheduler_id},
        )

    def _update(self, what: str, query: LiteralString, params: Sequence[Any]) -> tuple[Any, ...] | None:
        with translated_errors(what), self.connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(query, params)
            return cursor.fetchone() if cursor.description is not None else None

    def apply(self, action: Action) -> None:
        if isinstance(action, CheckIn):
            self.check_in(action)
        elif isinstance(action, Warn):
            self.warn(action)
        elif isinstance(action, Release):
            self.release(action)
        elif isinstance(action, WouldRelease):
            self.would_release(action)
        elif isinstance(action, ShadowFalseRelease):
            self.shadow_false_release(action)
        elif isinstance(action, Withheld):
            self.withheld(action)
        elif isinstance(action, Undo):
            self.undo(action)
        elif isinstance(action, EndEarly):
            self.end_early(action)
        elif isinstance(action, ExpireHold):
            self.expire_hold(action)
        elif isinstance(action, UnbookedUseStarted):
            evidence = {**action.evidence, "scheduler": self.context.scheduler_id}
            start_unbooked_use(self.connection, space=self.space, action=action, now=self.now, evidence=evidence)
        elif isinstance(action, UnbookedUsePeak):
            raise_unbooked_peak(self.connection, action=action)
        elif isinstance(action, UnbookedUseEnded):
            evidence = {**action.evidence, "scheduler": self.context.scheduler_id}
            end_unbooked_use(self.connection, space=self.space, action=action, now=self.now, evidence=evidence)

    def check_in(self, action: CheckIn) -> None:
        row = self._update(
            "checking a booking in",
            "UPDATE booking SET status = 'checked_in', checked_in_at = %s, check_in_source = %s, updated_at = %s"
            " WHERE id = %s AND status = 'confirmed' RETURNING series_id",
            (action.at, action.source, self.now, action.booking_id),
        )
        if row is None:
            return
        reset_strikes(self.connection, series_id=row[0])
        self._event("checked_in", action.booking_id, action.evidence, detail=f"people seen ({action.source})")

    def warn(self, action: Warn) -> None:
        row = self._update(
            "warning of a release",
            "UPDATE booking SET warned_at = %s, updated_at = %s WHERE id = %s AND status = 'confirmed'"
            " AND warned_at IS NULL AND kept_at IS NULL RETURNING owner_id, lower(during), upper(during)",
            (self.now, self.now, action.booking_id),
        )
        if row is None:
            return
        owner_id, start, end = row
        notice_id, _token = create_notice(
            self.connection,
            account_id=owner_id,
            at=self.now,
            kind="release_warning",
            text=warning_notice(self.space.name, start, end, action.release_at, self.space.tz),
            booking_id=action.booking_id,
            action="keep",
            action_expires_at=action.release_at,
        )
        displays = self.context.displays
        if not displays:
            panel = "no display in this space"
        elif self.context.panels_unavailable is not None:
            panel = f"not sent: {self.context.panels_unavailable}"
            log.warning(
                "release warning for booking %s not shown on %s: %s",
                action.booking_id,
                ", ".join(displays),
                self.context.panels_unavailable,
            )
        else:
            panel = f"sending to {', '.join(displays)}"
        evidence = {**action.evidence, "notice_id": notice_id, "panel": panel}
        detail = f"release at {action.release_at.isoformat()}"
        event_id = self._event("warned", action.booking_id, evidence, detail=detail)
        if displays and self.context.panels_unavailable is None:
            text, lines = panel_warning(self.space.name, action.release_at, self.space.tz)
            self.result.panel_messages.extend(
                PanelMessage(event_id, self.space.site_id, device, text, tuple(lines)) for device in displays
            )

    def release(self, action: Release) -> None:
        row = self._update(
            "releasing a booking",
            "UPDATE booking SET status = 'released', released_at = %s, updated_at = %s WHERE id = %s"
            " AND status = 'confirmed' AND kept_at IS NULL RETURNING owner_id, lower(during), upper(during), series_id",
            (self.now, self.now, action.booking_id),
        )
        if row is None:
            return
        owner_id, start, end, series_id = row
        notice_id, _token = create_notice(
            self.connection,
            account_id=owner_id,
            at=self.now,
            kind="released",
            text=released_notice(self.space.name, start, end, self.now, self.context.policy.undo_window, self.space.tz),
            booking_id=action.booking_id,
        )
        evidence = {**action.evidence, "notice_id": notice_id}
        self._event("released", action.booking_id, evidence, detail="nobody came: released")
        if series_id is not None:
            self.result.events.extend(
                count_strike(
                    self.connection,
                    space=self.space,
                    series_id=series_id,
                    booking_id=action.booking_id,
                    owner_id=owner_id,
                    policy=self.context.policy,
                    now=self.now,
                    evidence={"scheduler": self.context.scheduler_id},
                )
            )
        self._offer(action.freed_from, action.freed_until, released_from=action.booking_id)

    def _offer(self, freed_from: datetime, freed_until: datetime, *, released_from: int | None) -> None:
        offer = offer_freed_range(
            self.connection,
            space=self.space,
            freed_from=freed_from,
            freed_until=freed_until,
            now=self.now,
            hold=self.context.policy.hold,
            released_from=released_from,
            evidence={"scheduler": self.context.scheduler_id},
        )
        if offer is not None:
            self.result.events.append("hold_offered")
            self.result.deadlines.append(offer.expires_at)

    def would_release(self, action: WouldRelease) -> None:
        row = self._update(
            "recording a shadow release",
            "UPDATE booking SET shadow_release_at = %s, updated_at = %s WHERE id = %s AND shadow_release_at IS NULL"
            " RETURNING id",
            (self.now, self.now, action.booking_id),
        )
        if row is not None:
            self._event("would_release", action.booking_id, action.evidence, mode="shadow", detail="would release")

    def shadow_false_release(self, action: ShadowFalseRelease) -> None:
        row = self._update(
            "recording a shadow false release",
            "UPDATE booking SET shadow_false_at = %s, updated_at = %s WHERE id = %s AND shadow_false_at IS NULL"
            " RETURNING id",
            (action.at, self.now, action.booking_id),
        )
        if row is not None:
            detail = f"people came at {action.at.isoformat()}, after the policy would have released the booking"
            self._event("shadow_false_release", action.booking_id, action.evidence, mode="shadow", detail=detail)

    def withheld(self, action: Withheld) -> None:
        if self._newest_event_repeats(action.booking_id, "release_withheld", action.reason):
            return
        mode: Literal["enforce", "shadow"] = "shadow" if self.context.policy.mode is PolicyMode.SHADOW else "enforce"
        self._event("release_withheld", action.booking_id, action.evidence, mode=mode, detail=action.reason)

    def _newest_event_repeats(self, booking_id: int, kind: str, detail: str) -> bool:
        """The booking's newest event is ``kind`` with the same detail, ages and counts aside ("stale sensor (last
        reading 11 min ago)" repeats "... 10 min ago"): the same reason is recorded once, not at every look."""
        row = self._update(
            "reading a booking's newest event",
            "SELECT kind, detail FROM booking_event WHERE booking_id = %s ORDER BY at DESC, id DESC LIMIT 1",
            (booking_id,),
        )
        return row is not None and row[0] == kind and row[1] == detail  # the domain's reasons are stable texts

    def undo(self, action: Undo) -> None:
        sighting = action.evidence.get("sighting", {})
        device = sighting.get("device") if isinstance(sighting, Mapping) else None
        source = "badge" if device is not None and device not in self.context.sensor_devices else "sensor"
        evidence = {**action.evidence, "withdrawn_holds": list(action.withdraw_holds)}
        try:
            with self.connection.transaction():
                for hold_id in action.withdraw_holds:
                    withdraw_hold(self.connection, space=self.space, hold_id=hold_id, now=self.now, evidence=evidence)
                row = self._update(
                    "restoring a released booking",
                    "UPDATE booking SET status = 'checked_in', checked_in_at = %s, check_in_source = %s,"
                    " released_at = NULL, updated_at = %s WHERE id = %s AND status = 'released' RETURNING series_id",
                    (action.at, source, self.now, action.booking_id),
                )
        except DatabaseError as exc:
            if not is_exclusion_violation(exc):
                raise
            detail = "people came back, but an accepted booking has taken the slot"
            if not self._newest_event_repeats(action.booking_id, "undo_refused", detail):
                self._event("undo_refused", action.booking_id, {**evidence, "error": str(exc)}, detail=detail)
            return
        if row is None:
            return
        reset_strikes(self.connection, series_id=row[0])
        self._event("undone", action.booking_id, evidence, detail=f"people came after the release ({source})")

    def end_early(self, action: EndEarly) -> None:
        row = self._update(
            "ending a booking early",
            "SELECT upper(during) FROM booking WHERE id = %s AND status = 'checked_in' AND lower(during) < %s"
            " AND upper(during) > %s FOR UPDATE",
            (action.booking_id, action.at, action.at),
        )
        if row is None:
            return
        booked_until = row[0]
        self._update(
            "ending a booking early",
            "UPDATE booking SET during = tstzrange(lower(during), %s), status = 'ended', ended_at = %s, updated_at = %s"
            " WHERE id = %s",
            (action.at, action.at, self.now, action.booking_id),
        )
        evidence = {**action.evidence, "booked_until": booked_until.isoformat()}
        self._event("ended_early", action.booking_id, evidence, detail=f"empty since {action.emptied_at.isoformat()}")
        # The rest of the booked time is free again: somebody waiting for it gets it.
        self._offer(action.at, booked_until, released_from=None)

    def expire_hold(self, action: ExpireHold) -> None:
        evidence = {**action.evidence, "scheduler": self.context.scheduler_id}
        expired = expire_hold(
            self.connection, space=self.space, hold_id=action.booking_id, now=self.now, evidence=evidence
        )
        if expired is not None:
            self.result.events.append("hold_expired")
            start, end, released_from = expired
            self._offer(start, end, released_from=released_from)
