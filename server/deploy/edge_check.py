"""An edge container's healthcheck: is its agent online at the central broker, as the agent itself says?

The agent keeps ``<root>/v1/<site>/_agent/status`` retained: ``{"state": "online"}`` while its central link is up,
``offline`` after a clean stop and ``lost`` (its last will) when the broker lost it (edge/agent.py). A short-lived
client with the agent's own credentials (its ACL lets it read that topic) reads the retained message and reports.
"online" is the agent's uplink being connected, which is what the centre needs from it; a dead agent process ends
its container, which compose restarts, so no process check is needed besides.
"""

from __future__ import annotations

import json
import queue
import uuid
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.broker import BrokerAddress
from devices.mqtt_link import InboundMessage, MqttLink
from devices.topics import TOPIC_ROOT, agent_status_topic

DEFAULT_TIMEOUT_S = 5.0
ONLINE = "online"


class EdgeCheckSettings(BaseSettings):
    """The edge agent's own SC_EDGE_* variables that the check needs, read from the same container environment
    (edge/settings.py has them all; server/ does not import edge/, whose agent the check must not start)."""

    model_config = SettingsConfigDict(env_prefix="SC_EDGE_", frozen=True, extra="ignore")

    site_id: str = Field(description="the site whose agent is checked")
    central_broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="the centre's broker")
    topic_root: str = TOPIC_ROOT


@dataclass(frozen=True, slots=True)
class AgentStatus:
    healthy: bool
    reason: str


def agent_status(
    central: BrokerAddress, site_id: str, *, root: str = TOPIC_ROOT, timeout_s: float = DEFAULT_TIMEOUT_S
) -> AgentStatus:
    """The retained status of ``site_id``'s agent, read within ``timeout_s`` seconds."""
    topic = agent_status_topic(site_id, root=root)
    inbox: queue.Queue[InboundMessage] = queue.Queue()
    # A client id of its own: the agent's (sc-edge-<site>-uplink) would take the agent's session over.
    link = MqttLink(central, client_id=f"sc-edge-{site_id}-healthcheck-{uuid.uuid4().hex[:8]}", on_message=inbox.put)
    link.subscribe(topic, qos=0)
    link.start()
    try:
        if not link.wait_connected(timeout_s):
            return AgentStatus(False, f"central broker {central} did not accept the connection in {timeout_s:g} s")
        try:
            # Retained messages come right after the SUBACK; nothing within the wait means none was ever published.
            message = inbox.get(timeout=timeout_s)
        except queue.Empty:
            return AgentStatus(False, f"no status on {topic}: the agent has never connected")
    finally:
        link.stop()
    return status_of(message.payload, topic)


def status_of(payload: bytes, topic: str) -> AgentStatus:
    try:
        state = json.loads(payload).get("state")
    except (ValueError, AttributeError):
        return AgentStatus(False, f"unreadable status on {topic}: {payload[:80]!r}")
    if state == ONLINE:
        return AgentStatus(True, f"{topic}: online")
    return AgentStatus(False, f"{topic}: {state}")
