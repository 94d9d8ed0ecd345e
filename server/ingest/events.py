"""Envelopes other than occupancy → event rows; command results also → the answer to their command.

Every schema travels on one topic name (devices.events.EVENT_NAME_OF_SCHEMA; occupancy on ``event/occupancy``,
command results on ``cmd/<action>/result``): an envelope on another topic is refused, so that what the table calls
a door event came from the door channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from devices.envelope import Envelope
from devices.errors import PayloadRejected, RejectReason, preview
from devices.events import COMMAND_RESULT_SCHEMA, EVENT_NAME_OF_SCHEMA, CommandResultData, event_data, validate_event
from devices.readings import OCCUPANCY_SCHEMA
from devices.site import Device, Site
from devices.topics import COMMAND_RESULT, Channel, DeviceTopic
from server.db.commands import CommandAnswer
from server.db.events import StoredEvent


@dataclass(frozen=True, slots=True)
class AnsweredCommand:
    """A command result: stored as an event like any other, and recorded on its command."""

    event: StoredEvent
    answer: CommandAnswer


# The event name each stored schema travels on (after event/); command results go on cmd/<action>/result instead.
_EVENT_NAME = {OCCUPANCY_SCHEMA: "occupancy", **EVENT_NAME_OF_SCHEMA}


def check_topic_fits_schema(topic: DeviceTopic, schema_name: str) -> None:
    """PayloadRejected when an envelope of ``schema_name`` does not belong on ``topic``.

    A schema the server does not know passes on an event topic, for validate_event to refuse naming the known ones.
    """
    if topic.is_command_result:
        fits = schema_name == COMMAND_RESULT_SCHEMA
    elif topic.channel is Channel.EVENT:
        name = _EVENT_NAME.get(schema_name)
        fits = schema_name != COMMAND_RESULT_SCHEMA and (name is None or name == topic.name)
    else:
        raise PayloadRejected(RejectReason.BAD_TOPIC, f"the {topic.channel} channel carries no envelopes to store")
    if not fits:
        where = f"{topic.channel}/{topic.name}"
        raise PayloadRejected(RejectReason.SCHEMA, f"schema: {preview(schema_name)} does not travel on {where}")


def event_from_envelope(
    envelope: Envelope, topic: DeviceTopic, *, site: Site, device: Device, now: datetime
) -> StoredEvent | AnsweredCommand:
    """The row of a non-occupancy envelope whose topic already fits its schema; PayloadRejected naming the field."""
    model = validate_event(envelope)
    event = StoredEvent(
        device_id=device.id,
        seq=envelope.seq,
        ts=envelope.ts,
        received_at=now,
        site_id=site.id,
        space_id=device.space,
        kind=envelope.schema_kind,
        data_json=json.dumps(event_data(model), separators=(",", ":"), ensure_ascii=False),
    )
    if not isinstance(model, CommandResultData):
        return event
    action = (topic.name or "").removesuffix("/" + COMMAND_RESULT)
    if model.action != action:
        raise PayloadRejected(
            RejectReason.SCHEMA, f"data.action: {preview(model.action)} does not match the topic's cmd/{action}"
        )
    answer = CommandAnswer(
        command_id=model.command_id,
        site_id=site.id,
        device_id=device.id,
        action=model.action,
        status=model.status,
        detail=model.detail,
        data_json=json.dumps(model.data, separators=(",", ":"), ensure_ascii=False),
        answered_at=envelope.ts,
    )
    return AnsweredCommand(event=event, answer=answer)
