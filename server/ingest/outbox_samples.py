"""A sample of a site's edge outbox (``<root>/v1/<site>/_agent/state/outbox``, not an envelope) → a row to store.

The only ``state/<channel>`` topic the centre reads; any other is refused with its reason. The site comes from the
topic and must be a site of the belt. A sample is not an outbox envelope, so it is never confirmed to the agent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from devices.errors import PayloadRejected, RejectReason, preview
from devices.mqtt_link import InboundMessage
from devices.outbox_report import OUTBOX_STATE_NAME, decode_outbox_sample
from devices.site import Belt
from devices.topics import DeviceTopic
from server.db.edge_outbox import EdgeOutboxSample


def outbox_sample_from_message(
    message: InboundMessage, topic: DeviceTopic, *, belt: Belt, now: datetime, max_future: timedelta
) -> EdgeOutboxSample:
    """PayloadRejected for a state topic other than the agent's outbox, an unknown site, a malformed sample (or an
    empty payload: a retained sample being cleared), or a sample from the future."""
    if not topic.is_agent or topic.name != OUTBOX_STATE_NAME:
        raise PayloadRejected(
            RejectReason.BAD_TOPIC,
            f"the state channel carries the site's edge agent's state/{OUTBOX_STATE_NAME} only, not"
            f" {preview(topic.device_id)}/state/{preview(topic.name)}",
        )
    try:
        site = belt.site(topic.site_id)
    except KeyError:
        raise PayloadRejected(RejectReason.UNKNOWN_DEVICE, f"site {topic.site_id} is not in the site file") from None
    if not message.payload:
        raise PayloadRejected(RejectReason.NOT_JSON, "empty payload (a retained outbox sample being cleared)")
    sample = decode_outbox_sample(message.payload)
    if sample.ts > now + max_future:
        # The agent's clock is ahead: stored, it would draw a point where no time has passed yet.
        raise PayloadRejected(
            RejectReason.FUTURE_TIMESTAMP,
            f"ts: {sample.ts.isoformat()} is later than now + {max_future} ({now.isoformat()})",
        )
    return EdgeOutboxSample(
        site_id=site.id,
        ts=sample.ts,
        received_at=now,
        depth=sample.depth,
        oldest_age_s=sample.oldest_age_s,
        dropped_telemetry=sample.dropped_telemetry,
        max_rows=sample.max_rows,
    )
