"""A retained status message (``<root>/v1/<site>/<device>/status``, not an envelope) → a status update to record.

The device is known when the site file places it at the topic's site; ``_agent``, the site's edge agent, is known
for every site of the file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from devices.device_status import decode_status
from devices.errors import PayloadRejected, RejectReason
from devices.mqtt_link import InboundMessage
from devices.site import Belt
from devices.topics import DeviceTopic
from server.db.device_health import StatusUpdate


def status_from_message(
    message: InboundMessage, topic: DeviceTopic, *, belt: Belt, now: datetime, max_future: timedelta
) -> StatusUpdate:
    """PayloadRejected for an unknown device, an empty or malformed payload, or a report from the future."""
    try:
        site = belt.site(topic.site_id)
    except KeyError:
        raise PayloadRejected(RejectReason.UNKNOWN_DEVICE, f"site {topic.site_id} is not in the site file") from None
    if not topic.is_agent:
        try:
            site.device(topic.device_id)
        except KeyError:
            raise PayloadRejected(
                RejectReason.UNKNOWN_DEVICE, f"{topic.device_id} is not a device of {site.id} in the site file"
            ) from None
    if not message.payload:
        # An empty retained message is how a retained status is cleared; it says nothing about the device's health.
        raise PayloadRejected(RejectReason.NOT_JSON, "empty payload (a retained status being cleared)")
    report = decode_status(message.payload)
    if report.reported_at is not None and report.reported_at > now + max_future:
        # Stored, it would hide every later report (older ones are ignored by reported_at).
        raise PayloadRejected(
            RejectReason.FUTURE_TIMESTAMP,
            f"reported_at: {report.reported_at.isoformat()} is later than now + {max_future} ({now.isoformat()})",
        )
    return StatusUpdate(
        site_id=site.id,
        device_id=topic.device_id,
        state=report.state,
        since=report.since,
        last_seen=report.last_seen,
        detail=report.detail,
        reported_at=report.reported_at,
        received_at=now,
    )
