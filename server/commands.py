"""Commands to devices: check, record, publish to the site's edge agent, and wait (bounded) for the answer.

The answer comes back through the ingest (``command_result.v1`` on ``cmd/<action>/result``), which records it on the
command's row in the same transaction as the event. The service finds it by reading that row, every
``poll_interval_s``: this works whether the ingest runs in this process, in another server replica or not at all,
and needs no state shared between threads.

Exceptions (mapped to HTTP statuses in one place, ``server.api.errors``):

    CommandError
    ├── UnknownDevice        the site has no such device                                   404
    ├── UnknownCommand       no command with that id                                       404
    ├── CommandRefused       the device's model does not take the action, or bad args      422
    └── BrokerUnavailable    not connected to the broker, or it did not acknowledge        503
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

from devices.commands import DEFAULT_COMMAND_TTL, encode_command, new_command
from devices.queue_contract import TAKE_ACTION, WINDOW_ACTION
from devices.site import Belt
from devices.timestamps import utc_now
from devices.topics import AGENT_DEVICE_ID, Channel, device_topic
from server.db.commands import CommandRecord, get_command, insert_command, mark_unanswered

# The actions each device model takes (devices/commands.py documents their args). Models absent take none.
ACTIONS_OF_MODEL: Mapping[str, frozenset[str]] = {
    "modbus-door-controller": frozenset({"unlock"}),
    "ditel-led-board": frozenset({"display"}),
    "mqtt-display-board": frozenset({"display"}),
    "mqtt-ticket-dispenser": frozenset({"print"}),
}
# What the site's edge agent itself takes (its ticket queue).
AGENT_ACTIONS = frozenset({TAKE_ACTION, WINDOW_ACTION})
# After expires_at, how long an answer may still be on its way before the command counts as unanswered: the edge
# answers a command that reached it in time within its handler timeout (edge.command_handler.HANDLER_TIMEOUT_S,
# 10 s), and the answer then crosses the edge outbox and the broker.
DEFAULT_ANSWER_GRACE = timedelta(seconds=15)
# How long the broker may take to acknowledge a command (seconds).
PUBLISH_TIMEOUT_S = 5.0
# How often a waiting request reads the command's row (seconds): the added latency of an answer, at most.
POLL_INTERVAL_S = 0.1


class CommandError(Exception):
    """A command could not be issued or found; the message says why, for the person who asked."""


class UnknownDevice(CommandError):
    """No such site or device in the site file (HTTP 404)."""


class UnknownCommand(CommandError):
    """No command with that id was ever issued (HTTP 404)."""


class CommandRefused(CommandError):
    """The action is not one the device's model takes, or its args are wrong (HTTP 422)."""


class BrokerUnavailable(CommandError):
    """The broker did not take the command in time; the stored row stays 'sent' (HTTP 503)."""


class SiteQueueError(Exception):
    """The site's queue refused a request, or could not be reached; answered ``{"detail", "code"}`` with
    ``status`` (server.api.errors)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class CommandLink(Protocol):
    """What the service needs of a broker connection (devices.mqtt_link.MqttLink is one)."""

    @property
    def connected(self) -> bool: ...

    def publish_and_wait(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout: float = 5.0
    ) -> bool: ...


def new_command_id() -> str:
    return uuid.uuid4().hex


class CommandService:
    def __init__(
        self,
        *,
        belt: Belt,
        pool: ConnectionPool,
        link: CommandLink,
        topic_root: str = "sc",
        ttl: timedelta = DEFAULT_COMMAND_TTL,
        answer_grace: timedelta = DEFAULT_ANSWER_GRACE,
        publish_timeout_s: float = PUBLISH_TIMEOUT_S,
        poll_interval_s: float = POLL_INTERVAL_S,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = new_command_id,
    ) -> None:
        self._belt = belt
        self._pool = pool
        self._link = link
        self._root = topic_root
        self._ttl = ttl
        self._grace = answer_grace
        self._publish_timeout_s = publish_timeout_s
        self._poll_interval_s = poll_interval_s
        self._clock = clock
        self._new_id = new_id

    @property
    def broker_connected(self) -> bool:
        return self._link.connected

    def issue(self, site_id: str, device_id: str, action: str, args: Mapping[str, Any]) -> CommandRecord:
        """Record the command as ``sent`` and publish it (QoS 1, acknowledged by the broker); returns its row."""
        try:
            device = self._belt.site(site_id).device(device_id)
        except KeyError as exc:
            raise UnknownDevice(str(exc)) from None
        takes = ACTIONS_OF_MODEL.get(device.model, frozenset())
        if action not in takes:
            choice = f"it takes {', '.join(sorted(takes))}" if takes else "it takes no commands"
            raise CommandRefused(f"{device_id} ({device.model}) does not take {action!r}: {choice}")
        return self._send(site_id, device_id, action, args, self._new_id())

    def issue_to_agent(
        self, site_id: str, action: str, args: Mapping[str, Any], *, command_id: str | None = None
    ) -> CommandRecord:
        """A command to the site's edge agent itself (the site queue's ``take`` and ``window``:
        devices/queue_contract.py). A ``command_id`` already issued is not sent again: its row is returned, so a
        request retried with the same id never makes a second ticket."""
        try:
            self._belt.site(site_id)
        except KeyError as exc:
            raise UnknownDevice(str(exc)) from None
        if action not in AGENT_ACTIONS:
            raise CommandRefused(f"the edge agent takes {', '.join(sorted(AGENT_ACTIONS))}, not {action!r}")
        if command_id is not None:
            with self._pool.connection() as conn:
                known = get_command(conn, command_id=command_id)
            if known is not None:
                if (known.site_id, known.device_id, known.action) != (site_id, AGENT_DEVICE_ID, action):
                    raise CommandRefused(f"command id {command_id} was used for another request")
                return known
        return self._send(site_id, AGENT_DEVICE_ID, action, args, command_id or self._new_id())

    def _send(
        self, site_id: str, device_id: str, action: str, args: Mapping[str, Any], command_id: str
    ) -> CommandRecord:
        try:
            command = new_command(command_id, action, args, now=self._clock(), ttl=self._ttl)
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None
        if not self._link.connected:
            raise BrokerUnavailable("not connected to the broker; nothing was sent")
        # Committed before publishing, so that an answer arriving at once finds its command.
        with self._pool.connection() as conn:
            insert_command(conn, site_id=site_id, device_id=device_id, command=command)
        topic = device_topic(site_id, device_id, Channel.CMD, action, root=self._root)
        if not self._link.publish_and_wait(topic, encode_command(command), qos=1, timeout=self._publish_timeout_s):
            # It may still reach the device (the client keeps it in flight), so the row stays 'sent'.
            raise BrokerUnavailable(
                f"the broker did not acknowledge command {command.command_id} within {self._publish_timeout_s:g} s;"
                f" it may still be delivered: see /api/v1/commands/{command.command_id}"
            )
        return self.get(command.command_id)

    def get(self, command_id: str) -> CommandRecord:
        """The command as it stands; one past its expiry and grace with no answer becomes ``unanswered`` now."""
        with self._pool.connection() as conn:
            mark_unanswered(conn, now=self._clock(), grace=self._grace, command_id=command_id)
            record = get_command(conn, command_id=command_id)
        if record is None:
            raise UnknownCommand(f"no command {command_id!r}")
        return record

    def wait_for_answer(self, command_id: str, *, timeout_s: float) -> CommandRecord:
        """The command once answered (or unanswered), or as it stands after ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while True:
            record = self.get(command_id)
            remaining = deadline - time.monotonic()
            if record.status != "sent" or remaining <= 0:
                return record
            time.sleep(min(self._poll_interval_s, remaining))
