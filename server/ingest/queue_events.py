"""Envelopes from a site's edge agent itself (device id ``_agent``): its queue's events and its command answers.

The agent owns its site's ticket queue (devices/queue_contract.py) and sends every change as a ``queue.v1`` envelope
on ``<root>/v1/<site>/_agent/event/queue``; it answers the centre's ``take`` and ``window`` commands on
``_agent/cmd/<action>/result``. Nothing else travels under ``_agent`` as an envelope (its status topic carries no
envelope and is read by server/ingest/statuses.py), so anything else is refused with a reason. The site comes from
the topic and must be a site of the belt; the payload must name ``_agent`` too.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from devices.envelope import Envelope, decode_envelope, ensure_device_matches
from devices.errors import PayloadRejected, RejectReason, preview
from devices.events import COMMAND_RESULT_SCHEMA, CommandResultData, event_data, validate_event
from devices.mqtt_link import InboundMessage
from devices.queue_contract import (
    QUEUE_EVENT_NAME,
    QUEUE_SCHEMA,
    TAKE_ACTION,
    WINDOW_ACTION,
    QueueEventData,
    queue_time,
)
from devices.site import Belt, Site
from devices.topics import AGENT_DEVICE_ID, COMMAND_RESULT, Channel, DeviceTopic
from server.db.commands import CommandAnswer
from server.db.events import StoredEvent
from server.db.queue_writes import QueueEventRecord
from server.ingest.events import AnsweredCommand

# The commands the agent answers as itself; other actions go to devices.
AGENT_ACTIONS = (TAKE_ACTION, WINDOW_ACTION)
# device_event.space_id of the agent's own command answers: the agent stands in no space of the site.
AGENT_SPACE_ID = ""


def classify_agent_message(
    message: InboundMessage, topic: DeviceTopic, *, belt: Belt, now: datetime, max_future: timedelta
) -> QueueEventRecord | AnsweredCommand:
    """An envelope the agent of ``topic.site_id`` sent as ``_agent``; PayloadRejected saying why it cannot be one."""
    try:
        site = belt.site(topic.site_id)
    except KeyError:
        raise PayloadRejected(RejectReason.UNKNOWN_DEVICE, f"site {topic.site_id} is not in the site file") from None
    if topic.channel is Channel.EVENT and topic.name != QUEUE_EVENT_NAME:
        raise PayloadRejected(
            RejectReason.BAD_TOPIC,
            f"the site's edge agent sends events on event/{QUEUE_EVENT_NAME} only, not event/{preview(topic.name)}",
        )
    if topic.channel is Channel.CMD and not _is_agent_answer(topic):
        raise PayloadRejected(
            RejectReason.BAD_TOPIC,
            f"the site's edge agent answers cmd/take and cmd/window only, not cmd/{preview(topic.name)}",
        )
    if topic.channel not in (Channel.EVENT, Channel.CMD):
        raise PayloadRejected(RejectReason.BAD_TOPIC, f"the {topic.channel} channel of _agent carries no envelopes")
    envelope = decode_envelope(message.payload, now=now, max_future=max_future)
    ensure_device_matches(envelope, AGENT_DEVICE_ID)
    if topic.channel is Channel.EVENT:
        if envelope.schema_name != QUEUE_SCHEMA:
            raise PayloadRejected(
                RejectReason.SCHEMA,
                f"schema: {preview(envelope.schema_name)} from the site's edge agent; event/{QUEUE_EVENT_NAME}"
                f" carries {QUEUE_SCHEMA} only",
            )
        model = validate_event(envelope)
        assert isinstance(model, QueueEventData)  # validate_event maps queue.v1 to it
        _check_queue_times(model)
        return QueueEventRecord(site_id=site.id, seq=envelope.seq, ts=envelope.ts, received_at=now, data=model)
    return _agent_answer(envelope, topic, site=site, now=now)


def _check_queue_times(data: QueueEventData) -> None:
    """PayloadRejected naming the first time or day that is not what the contract says (RFC 3339 with an offset)."""
    times: list[tuple[str, str | None]] = [("data.at", data.at)]
    ticket = data.ticket
    if ticket is not None:
        times += [
            (f"data.ticket.{name}", getattr(ticket, name))
            for name in ("issued_at", "order_at", "appointment_at", "called_at", "finished_at")
        ]
    for where, text in times:
        if text is None:
            continue
        try:
            queue_time(text)
        except ValueError:
            raise PayloadRejected(RejectReason.SCHEMA, f"{where}: {preview(text)} is not an RFC 3339 time") from None
    if ticket is not None:
        try:
            date.fromisoformat(ticket.day)
        except ValueError:
            raise PayloadRejected(RejectReason.SCHEMA, f"data.ticket.day: {preview(ticket.day)} is no date") from None


def _is_agent_answer(topic: DeviceTopic) -> bool:
    return topic.is_command_result and (topic.name or "").removesuffix("/" + COMMAND_RESULT) in AGENT_ACTIONS


def _agent_answer(envelope: Envelope, topic: DeviceTopic, *, site: Site, now: datetime) -> AnsweredCommand:
    """The agent's answer to a take or window command: stored as an event and recorded on its command."""
    if envelope.schema_name != COMMAND_RESULT_SCHEMA:
        raise PayloadRejected(
            RejectReason.SCHEMA,
            f"schema: {preview(envelope.schema_name)} does not travel on cmd/{topic.name}"
            f" (only {COMMAND_RESULT_SCHEMA})",
        )
    model = validate_event(envelope)
    assert isinstance(model, CommandResultData)
    action = (topic.name or "").removesuffix("/" + COMMAND_RESULT)
    if model.action != action:
        raise PayloadRejected(
            RejectReason.SCHEMA, f"data.action: {preview(model.action)} does not match the topic's cmd/{action}"
        )
    event = StoredEvent(
        device_id=AGENT_DEVICE_ID,
        seq=envelope.seq,
        ts=envelope.ts,
        received_at=now,
        site_id=site.id,
        space_id=AGENT_SPACE_ID,
        kind=envelope.schema_kind,
        data_json=json.dumps(event_data(model), separators=(",", ":"), ensure_ascii=False),
    )
    answer = CommandAnswer(
        command_id=model.command_id,
        site_id=site.id,
        device_id=AGENT_DEVICE_ID,
        action=model.action,
        status=model.status,
        detail=model.detail,
        data_json=json.dumps(model.data, separators=(",", ":"), ensure_ascii=False),
        answered_at=envelope.ts,
    )
    return AnsweredCommand(event=event, answer=answer)
