"""MQTT topic layout of the wire contract: build and parse ``<root>/v1/<site>/<device_id>/<channel>[/<name>]``.

Channels (retain and QoS are the publisher's duty; they are listed here because the layout implies them):

- ``status``            retained; ``online`` / ``offline`` / ``lost`` (the last will). No name.
- ``state/<channel>``   retained current value (``state/occupancy``, ``state/display``).
- ``event/<kind>``      QoS 1, not retained: one envelope per observation (``event/occupancy``).
- ``cmd/<action>``      QoS 1, never retained; the device answers on ``cmd/<action>/result``.

Site and device ids are lowercase ``[a-z0-9][a-z0-9_-]{0,62}``: no MQTT wildcards, no ``$`` (broker-internal
topics), no case games that would let two ids collide in a case-insensitive ACL file. The device id ``_agent`` is
reserved for the site's edge agent; its leading underscore keeps it out of the device id space (no site file can
name a device so). The agent sends envelopes of its own under it (the site queue's ``event/queue``, answers to
``cmd/take`` and ``cmd/window``), so :func:`device_topic` and :func:`parse_device_topic` accept it; the broker's ACL
lets only the agent's credentials publish there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from devices.errors import PayloadRejected, RejectReason, preview

TOPIC_ROOT = "sc"
WIRE_VERSION = "v1"
AGENT_DEVICE_ID = "_agent"
COMMAND_RESULT = "result"

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class Channel(StrEnum):
    STATUS = "status"
    STATE = "state"
    EVENT = "event"
    CMD = "cmd"


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """A parsed topic. ``name`` is the state channel, event kind or command action (``open/result`` for a result)."""

    root: str
    site_id: str
    device_id: str
    channel: Channel
    name: str | None

    @property
    def is_command_result(self) -> bool:
        return self.channel is Channel.CMD and self.name is not None and self.name.endswith("/" + COMMAND_RESULT)

    @property
    def is_agent(self) -> bool:
        return self.device_id == AGENT_DEVICE_ID


def is_valid_id(value: str) -> bool:
    """True for a usable site id, device id, root segment or topic name segment."""
    return _ID.fullmatch(value) is not None


def is_sender_id(value: str) -> bool:
    """True for an id that may send envelopes: a device id, or the site's edge agent itself (``_agent``)."""
    return value == AGENT_DEVICE_ID or is_valid_id(value)


def _check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not is_valid_id(value):
        raise ValueError(f"{kind} {value!r} must match [a-z0-9][a-z0-9_-]{{0,62}}")


def _check_root(root: str) -> None:
    # A root may have several levels ("sc", "test-1a2b/sc") so that tests and tenants can share a broker.
    if not isinstance(root, str) or not all(is_valid_id(part) for part in root.split("/")):
        raise ValueError(f"topic root {root!r} must be '/'-separated [a-z0-9][a-z0-9_-]{{0,62}} levels")


def _name_error(channel: Channel, name: str | None) -> str | None:
    """Why ``name`` does not fit ``channel``, or None when it does."""
    if channel is Channel.STATUS:
        return None if name is None else "the status channel takes no name"
    if name is None:
        return f"the {channel} channel needs a name"
    parts = name.split("/")
    if not all(is_valid_id(part) for part in parts):
        return f"name {preview(name)} must be [a-z0-9][a-z0-9_-]{{0,62}} levels"
    if len(parts) == 1 or (channel is Channel.CMD and len(parts) == 2 and parts[1] == COMMAND_RESULT):
        return None
    return f"the {channel} channel takes one name level" + (" (or <action>/result)" if channel is Channel.CMD else "")


def device_topic(
    site_id: str, device_id: str, channel: Channel, name: str | None = None, *, root: str = TOPIC_ROOT
) -> str:
    """The topic one device publishes (or receives commands) on; ValueError for an id or name that cannot be used."""
    _check_root(root)
    _check_id("site id", site_id)
    if device_id != AGENT_DEVICE_ID:
        _check_id("device id", device_id)
    channel = Channel(channel)
    problem = _name_error(channel, name)
    if problem is not None:
        raise ValueError(problem)
    tail = channel.value if name is None else f"{channel.value}/{name}"
    return f"{root}/{WIRE_VERSION}/{site_id}/{device_id}/{tail}"


def command_result_topic(site_id: str, device_id: str, action: str, *, root: str = TOPIC_ROOT) -> str:
    """Where a device answers the command ``cmd/<action>``."""
    return device_topic(site_id, device_id, Channel.CMD, f"{action}/{COMMAND_RESULT}", root=root)


def agent_status_topic(site_id: str, *, root: str = TOPIC_ROOT) -> str:
    """The edge agent's retained online/offline/lost topic, ``<root>/v1/<site>/_agent/status``."""
    _check_root(root)
    _check_id("site id", site_id)
    return f"{root}/{WIRE_VERSION}/{site_id}/{AGENT_DEVICE_ID}/{Channel.STATUS.value}"


def agent_command_topic(site_id: str, action: str, *, root: str = TOPIC_ROOT) -> str:
    """A command to the site's edge agent itself, ``<root>/v1/<site>/_agent/cmd/<action>`` (QoS 1, never retained)."""
    _check_root(root)
    _check_id("site id", site_id)
    problem = _name_error(Channel.CMD, action)
    if problem is not None:
        raise ValueError(problem)
    return f"{root}/{WIRE_VERSION}/{site_id}/{AGENT_DEVICE_ID}/{Channel.CMD.value}/{action}"


def parse_device_topic(topic: str, *, root: str = TOPIC_ROOT) -> DeviceTopic:
    """Split a received topic; PayloadRejected(BAD_TOPIC) for anything outside the layout."""
    _check_root(root)
    prefix = f"{root}/{WIRE_VERSION}/"
    if not isinstance(topic, str) or not topic.startswith(prefix):
        raise PayloadRejected(RejectReason.BAD_TOPIC, f"{preview(topic)} does not start with {prefix!r}")
    parts = topic[len(prefix) :].split("/")
    if len(parts) < 3:
        raise PayloadRejected(RejectReason.BAD_TOPIC, f"{preview(topic)}: expected <site>/<device>/<channel>[/...]")
    site_id, device_id, channel_text, *names = parts
    if not is_valid_id(site_id):
        raise PayloadRejected(RejectReason.BAD_TOPIC, f"{preview(topic)}: bad site id {preview(site_id)}")
    if not (is_valid_id(device_id) or device_id == AGENT_DEVICE_ID):
        raise PayloadRejected(RejectReason.BAD_TOPIC, f"{preview(topic)}: bad device id {preview(device_id)}")
    try:
        channel = Channel(channel_text)
    except ValueError:
        raise PayloadRejected(
            RejectReason.BAD_TOPIC, f"{preview(topic)}: unknown channel {preview(channel_text)}"
        ) from None
    name = "/".join(names) if names else None
    problem = _name_error(channel, name)
    if problem is not None:
        raise PayloadRejected(RejectReason.BAD_TOPIC, f"{preview(topic)}: {problem}")
    return DeviceTopic(root=root, site_id=site_id, device_id=device_id, channel=channel, name=name)


def channel_subscription(channel: Channel, *, root: str = TOPIC_ROOT, site_id: str = "+", device_id: str = "+") -> str:
    """A subscription filter for one channel; ``+`` (the default) for any site or device."""
    _check_root(root)
    if site_id != "+":
        _check_id("site id", site_id)
    if device_id != "+" and device_id != AGENT_DEVICE_ID:
        _check_id("device id", device_id)
    channel = Channel(channel)
    # status has no name level; "<x>/#" would also match "<x>" itself, but the exact filter says what we mean.
    tail = channel.value if channel is Channel.STATUS else f"{channel.value}/#"
    return f"{root}/{WIRE_VERSION}/{site_id}/{device_id}/{tail}"


def event_subscription(*, root: str = TOPIC_ROOT, site_id: str = "+") -> str:
    """Every device event of one site (or all sites): ``sc/v1/+/+/event/#``."""
    return channel_subscription(Channel.EVENT, root=root, site_id=site_id)
