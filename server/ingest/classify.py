"""One MQTT message from an edge agent → a reading to store, or a reject with its reason.

The device's identity comes from the topic (the broker's ACL ties topics to credentials), never from the payload:
an envelope that names another device is refused.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from devices.envelope import decode_envelope, ensure_device_matches
from devices.errors import PayloadRejected, RejectReason
from devices.mqtt_link import InboundMessage
from devices.readings import occupancy_from_envelope
from devices.site import Belt
from devices.topics import parse_device_topic
from server.db.readings import StoredReading
from server.db.rejects import PAYLOAD_HEAD_LIMIT, IngestReject

# The reject reason of a message our own code failed on (not one of the wire contract's reasons).
INTERNAL_ERROR = "internal_error"


def classify_message(
    message: InboundMessage, *, belt: Belt, root: str, now: datetime, max_future: timedelta
) -> StoredReading | IngestReject:
    try:
        topic = parse_device_topic(message.topic, root=root)
        try:
            site, device = belt.device(topic.device_id)
        except KeyError:
            raise PayloadRejected(RejectReason.UNKNOWN_DEVICE, f"{topic.device_id} is not in the site file") from None
        if site.id != topic.site_id:
            raise PayloadRejected(RejectReason.UNKNOWN_DEVICE, f"{topic.device_id} belongs to {site.id}")
        envelope = decode_envelope(message.payload, now=now, max_future=max_future)
        ensure_device_matches(envelope, topic.device_id)
        reading = occupancy_from_envelope(envelope)
    except PayloadRejected as exc:
        return _reject(message, now=now, reason=str(exc.reason), detail=exc.detail)
    return StoredReading(
        device_id=topic.device_id,
        seq=envelope.seq,
        ts=envelope.ts,
        received_at=now,
        site_id=site.id,
        space_id=device.space,
        people=reading.people,
        occupied=reading.occupied,
        regions_json=json.dumps(
            [{"name": r.name, "count": r.count, "occupied": r.occupied} for r in reading.regions],
            separators=(",", ":"),
        ),
    )


def unclassifiable(message: InboundMessage, *, now: datetime, error: Exception) -> IngestReject:
    """The reject kept for a message whose classification failed unexpectedly (a bug, logged by the caller)."""
    return _reject(message, now=now, reason=INTERNAL_ERROR, detail=f"{type(error).__name__}: {error}"[:200])


def _reject(message: InboundMessage, *, now: datetime, reason: str, detail: str) -> IngestReject:
    return IngestReject(
        received_at=now,
        topic=message.topic[:512],
        reason=reason,
        detail=detail,
        payload_head=message.payload[:PAYLOAD_HEAD_LIMIT],
        payload_size=len(message.payload),
    )
