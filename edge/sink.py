"""What every source of the agent (MQTT device listeners, Modbus pollers, command handlers) hands its output to.

A source never publishes to the centre itself: it submits an :class:`Outgoing` to an :class:`EnvelopeSink` (the
durable outbox in production, a list in unit tests), which numbers it per device, keeps it on disk until the server
confirms it was written, and sends it on. Device health goes to a :class:`StatusSink` as retained status: only the
newest matters, so it is not queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from devices.topics import Channel

DeviceState = Literal["online", "stale", "offline"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One observation or command result to deliver to the centre as an envelope.

    ``channel``/``name`` place it on ``<root>/v1/<site>/<device_id>/<channel>/<name>``: ``EVENT``/``"occupancy"``,
    ``EVENT``/``"access"``, ``CMD``/``"unlock/result"``. ``schema`` is the envelope schema (``"access.v1"``).
    ``critical`` items (door events, command results) are never dropped when the outbox is full; telemetry is,
    oldest first, and counted.
    """

    device_id: str
    channel: Channel
    name: str
    schema: str
    observed_at: datetime  # aware UTC: when the device saw it
    data: Mapping[str, Any] = field(hash=False)
    critical: bool = False

    def __post_init__(self) -> None:
        if self.observed_at.utcoffset() is None:
            raise ValueError(f"{self.device_id}: observed_at {self.observed_at!r} is naive")
        if self.channel not in (Channel.EVENT, Channel.CMD):
            raise ValueError(f"{self.device_id}: only event and command-result envelopes go through the outbox")


class EnvelopeSink(Protocol):
    def submit(self, item: Outgoing) -> int:
        """Take one item durably (it is on disk when this returns) and return the sequence number it got."""
        ...


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device's health as the agent sees it; published retained on ``…/<device_id>/status``."""

    device_id: str
    state: DeviceState
    since: datetime  # aware UTC: when it entered this state
    last_seen: datetime | None  # aware UTC: the last good read or message; None if never
    detail: str = ""


class StatusSink(Protocol):
    def publish_status(self, status: DeviceStatus) -> None:
        """Publish (retained) the device's current health; the newest replaces the previous one."""
        ...
