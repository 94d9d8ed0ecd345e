"""One MQTT message from an edge agent → a reading to store, or a reject with its reason.

The device's identity comes from the topic (the broker's ACL ties topics to credentials), never from the payload:
an envelope that names another device is refused. The site's edge agent sends envelopes of its own as ``_agent``
(its queue's ``queue.v1`` events and its answers to take/window commands: server/ingest/queue_events.py); no device
of the site file may send ``queue.v1``. The agent's samples of its outbox come on ``_agent/state/outbox``, the one
state topic the centre reads (server/ingest/outbox_samples.py).

:func:`reject_delivery_key` reads, where it can, which edge envelope a refused message was, so that the server can
confirm it to its agent like a stored one: sent again it would be refused again, and its reject row is its record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from devices.envelope import MAX_PAYLOAD_BYTES, MAX_SEQ, decode_envelope, ensure_device_matches, load_json_object
from devices.errors import PayloadRejected, RejectReason
from devices.mqtt_link import InboundMessage
from devices.queue_contract import QUEUE_SCHEMA
from devices.readings import OCCUPANCY_SCHEMA, occupancy_from_envelope
from devices.site import Belt
from devices.topics import Channel, parse_device_topic
from server.db.device_health import StatusUpdate
from server.db.edge_outbox import EdgeOutboxSample
from server.db.events import StoredEvent
from server.db.queue_writes import QueueEventRecord
from server.db.readings import StoredReading
from server.db.rejects import PAYLOAD_HEAD_LIMIT, IngestReject
from server.ingest.events import AnsweredCommand, check_topic_fits_schema, event_from_envelope
from server.ingest.outbox_samples import outbox_sample_from_message
from server.ingest.queue_events import classify_agent_message
from server.ingest.statuses import status_from_message

# The reject reason of a message our own code failed on (not one of the wire contract's reasons).
INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """The number the edge agent of ``site_id`` gave an envelope: what the server confirms back once it is durable."""

    site_id: str
    device_id: str
    seq: int


# What one message becomes: an occupancy reading, another event (a command result also answers its command), a
# device's status (status topics carry no envelope), an event of a site's queue (from its agent), a sample of a
# site's edge outbox (no envelope either), or a reject.
Classified = (
    StoredReading | StoredEvent | AnsweredCommand | StatusUpdate | QueueEventRecord | EdgeOutboxSample | IngestReject
)


def classify_message(
    message: InboundMessage, *, belt: Belt, root: str, now: datetime, max_future: timedelta
) -> Classified:
    try:
        topic = parse_device_topic(message.topic, root=root)
        if topic.channel is Channel.STATUS:
            return status_from_message(message, topic, belt=belt, now=now, max_future=max_future)
        if topic.channel is Channel.STATE:
            return outbox_sample_from_message(message, topic, belt=belt, now=now, max_future=max_future)
        if topic.is_agent:
            return classify_agent_message(message, topic, belt=belt, now=now, max_future=max_future)
        try:
            site, device = belt.device(topic.device_id)
        except KeyError:
            raise PayloadRejected(RejectReason.UNKNOWN_DEVICE, f"{topic.device_id} is not in the site file") from None
        if site.id != topic.site_id:
            raise PayloadRejected(RejectReason.UNKNOWN_DEVICE, f"{topic.device_id} belongs to {site.id}")
        envelope = decode_envelope(message.payload, now=now, max_future=max_future)
        ensure_device_matches(envelope, topic.device_id)
        check_topic_fits_schema(topic, envelope.schema_name)
        if envelope.schema_name == QUEUE_SCHEMA:
            raise PayloadRejected(
                RejectReason.SCHEMA, f"schema: {QUEUE_SCHEMA} comes from the site's edge agent (_agent), not a device"
            )
        if envelope.schema_name != OCCUPANCY_SCHEMA:
            return event_from_envelope(envelope, topic, site=site, device=device, now=now)
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


def reject_delivery_key(message: InboundMessage, *, root: str) -> DeliveryKey | None:
    """Site and device from the topic and ``seq`` from the payload of a refused message; None if any is unreadable."""
    try:
        topic = parse_device_topic(message.topic, root=root)
        document = load_json_object(message.payload, max_bytes=MAX_PAYLOAD_BYTES, reject_duplicate_keys=True)
    except PayloadRejected:
        return None
    seq = document.get("seq")
    # Only events and command results come from an outbox (the agent's own too: its queue events and its answers);
    # a seq elsewhere would name some other envelope.
    if topic.channel is not Channel.EVENT and not topic.is_command_result:
        return None
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:  # bool is not a seq
        return None
    return DeliveryKey(site_id=topic.site_id, device_id=topic.device_id, seq=seq)


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
