"""The broker's users for one site file and the topics each may publish and read: the single place that turns the
topic layout of devices/ and edge/ into Mosquitto's ``acl_file`` (mosquitto.conf(5), "acl_file").

Users, one password each (``server.deploy.broker_auth``):

- every MQTT device of the site file, named by its device id: publishes its vendor topic only; a queue device
  (``devices.vendors.queue_devices``) also reads its command topic ``<vendor topic>/set``;
- ``edge-<site>``, the site's edge agent: on the site side it reads its devices' vendor topics and publishes their
  ``/set`` (edge/mqtt_devices.py); on the centre side it publishes everything under ``<root>/v1/<site>/`` (events,
  statuses, its own will, command results: edge/outbox.py, edge/agent.py), reads the commands and confirmations
  addressed to the site (``<root>/v1/<site>/+/cmd/#``: edge/commands.py, devices/confirmations.py), and its own
  retained status (the container's healthcheck, server/deploy/edge_check.py);
- ``server``: reads ``<root>/v1/+/#`` (the ingest's events, statuses and command results) and publishes commands
  and confirmations, ``<root>/v1/+/+/cmd/+`` (server/commands.py, server/ingest/service.py); a command *result*
  (``cmd/<action>/result``) it cannot forge;
- ``simulators``: what every simulated MQTT device does (the compose profile ``simulators`` only);
- ``healthcheck``: reads ``$SYS/#``, which the broker container's healthcheck subscribes to.

Mosquitto 2.0 checks ``read`` when it delivers a message, not when a client subscribes: a subscription outside a
user's rights is accepted and stays silent. Anything not granted is refused; there are no rules for anonymous
clients (``allow_anonymous false`` refuses them anyway).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devices.site import Belt, Device, Site
from devices.topics import AGENT_DEVICE_ID, TOPIC_ROOT, WIRE_VERSION, agent_status_topic
from devices.vendors.queue_devices import QUEUE_MODELS, command_topic
from server.deploy import DeployError

SERVER_USER = "server"
SIMULATORS_USER = "simulators"
HEALTHCHECK_USER = "healthcheck"
EDGE_USER_PREFIX = "edge-"


@dataclass(frozen=True, slots=True)
class BrokerUser:
    """One login of the broker and its rights: MQTT topic filters (``+``/``#`` allowed) it may read and write."""

    name: str
    role: str  # device, edge, server, simulators, healthcheck: for the file's comments and the report
    site_id: str | None
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    model: str | None = None  # devices only


def edge_user(site_id: str) -> str:
    return f"{EDGE_USER_PREFIX}{site_id}"


def device_topics(device: Device) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(topics the device reads, topics it publishes): its ``/set`` if it takes commands, its vendor topic."""
    if device.transport != "mqtt" or device.vendor_topic is None:
        return (), ()
    reads = (command_topic(device.vendor_topic),) if device.model in QUEUE_MODELS else ()
    return reads, (device.vendor_topic,)


def _edge(site: Site, root: str) -> BrokerUser:
    site_reads: list[str] = []
    site_writes: list[str] = []
    for device in site.devices:
        reads, writes = device_topics(device)
        site_reads += writes  # the agent hears what the device says ...
        site_writes += reads  # ... and says what the device hears
    centre = f"{root}/{WIRE_VERSION}/{site.id}"
    return BrokerUser(
        name=edge_user(site.id),
        role="edge",
        site_id=site.id,
        read=(*site_reads, f"{centre}/+/cmd/#", agent_status_topic(site.id, root=root)),
        write=(*site_writes, f"{centre}/#"),
    )


def broker_users(belt: Belt, *, root: str = TOPIC_ROOT) -> list[BrokerUser]:
    """Every user of the broker for ``belt``, centre first, then per site its agent and its MQTT devices.

    DeployError when two users would share a name (a device id equal to ``server`` or ``edge-<site>``)."""
    users = [
        BrokerUser(
            SERVER_USER,
            "server",
            None,
            read=(f"{root}/{WIRE_VERSION}/+/#",),
            write=(f"{root}/{WIRE_VERSION}/+/+/cmd/+",),
        ),
        BrokerUser(HEALTHCHECK_USER, "healthcheck", None, read=("$SYS/#",)),
    ]
    simulated_reads: list[str] = []
    simulated_writes: list[str] = []
    for site in belt.sites:
        users.append(_edge(site, root))
        for device in site.devices:
            reads, writes = device_topics(device)
            if writes:
                users.append(BrokerUser(device.id, "device", site.id, read=reads, write=writes, model=device.model))
                simulated_reads += reads
                simulated_writes += writes
    users.append(BrokerUser(SIMULATORS_USER, "simulators", None, tuple(simulated_reads), tuple(simulated_writes)))
    _check_unique(users)
    return users


def _check_unique(users: Iterable[BrokerUser]) -> None:
    seen: dict[str, BrokerUser] = {}
    for user in users:
        if user.name == AGENT_DEVICE_ID or user.name in seen:
            other = seen.get(user.name)
            taken = f"the {other.role} user" if other is not None else "reserved"
            raise DeployError(f"broker user {user.name!r} ({user.role}) is {taken}: rename the device in the site file")
        seen[user.name] = user


def render_acl(users: Iterable[BrokerUser], *, source: str) -> str:
    """Mosquitto's acl_file for ``users``: a ``user`` block each, ``topic read|write <filter>`` lines."""
    lines = [
        f"# Mosquitto ACL of the Smart Complex broker, generated from {source} by",
        "# `smartcomplex deploy broker-auth` (server/deploy/broker_acl.py). Do not edit: run the command again.",
        "# No rules precede the first `user` line, so anonymous clients may do nothing (and are refused anyway).",
    ]
    for user in users:
        what = user.model or user.role
        where = f" of site {user.site_id}" if user.site_id else ""
        lines += ["", f"# {what}{where}", f"user {user.name}"]
        lines += [f"topic read {topic}" for topic in _unique(user.read)]
        lines += [f"topic write {topic}" for topic in _unique(user.write)]
    return "\n".join(lines) + "\n"


def _unique(topics: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(topics))
