"""The edge side of the MQTT queue devices (protocol: :mod:`devices.vendors.queue_devices`).

One :class:`QueueDeviceAdapter` per device turns what it publishes on its vendor topic into :class:`Outgoing`
events (``ticket_request.v1`` for a dispenser button, ``terminal.v1`` for a call terminal key), reports every good
message as "seen" for device health, and carries out the server's commands as a
:class:`~edge.command_handler.CommandHandler`: ``print`` on a dispenser, ``display`` on a board. A command goes
out on ``<vendor topic>/set`` and the adapter waits (bounded, on the command router's worker thread) for the
device's answer with the same command id, which arrives through :meth:`QueueDeviceAdapter.handle` on the MQTT
thread. Ticket numbers are not assigned here: a button only requests one; the server's queue sends ``print``.

Events are ``critical`` (never dropped by a full outbox): each one changes a queue, unlike telemetry.
Device times are trusted when they are plausible: later than the edge's clock by more than
:data:`MAX_CLOCK_AHEAD` (the server would refuse it) or older than :data:`MAX_MESSAGE_AGE` (a device that lost its
clock) and the edge's receive time is used instead, logged once per episode and counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from devices.commands import Command, DisplayArgs, PrintArgs
from devices.errors import PayloadRejected, RejectReason, preview
from devices.events import TERMINAL_SCHEMA, TICKET_REQUEST_SCHEMA, TerminalData, TicketRequestData, event_data
from devices.mqtt_link import MqttLink
from devices.site import Device, Site, SiteLookupError
from devices.timestamps import utc_now
from devices.topics import Channel
from devices.vendors.queue_devices import (
    BOARD_MODEL,
    DISPENSER_MODEL,
    QUEUE_MODELS,
    TERMINAL_MODEL,
    ButtonPress,
    DisplayShown,
    DisplayState,
    KeyPress,
    PrintFailed,
    PrintRequest,
    QueueMessage,
    TicketPrinted,
    command_topic,
    encode_display_state,
    encode_print_request,
    parse_queue_message,
)
from devices.vendors.queue_wire import parse_time
from edge.command_handler import HANDLER_TIMEOUT_S, CommandOutcome
from edge.sink import Outgoing

log = logging.getLogger(__name__)

PublishToDevice = Callable[[str, bytes, bool], None]  # (topic, payload, retain), QoS 1, to the site broker
SeenCallback = Callable[[str, datetime], None]  # (device id, when the edge heard from it, aware UTC)

# A device answers within 2 s (datasheet); the wait stays inside the command router's HANDLER_TIMEOUT_S.
DEFAULT_ANSWER_TIMEOUT_S = 8.0
MAX_CLOCK_AHEAD = timedelta(seconds=60)
MAX_MESSAGE_AGE = timedelta(days=7)  # how long the site broker keeps the agent's persistent session

Answer = TicketPrinted | PrintFailed | DisplayShown


def publisher_for(link: MqttLink) -> PublishToDevice:
    """A :data:`PublishToDevice` over the agent's site-broker link."""

    def publish(topic: str, payload: bytes, retain: bool) -> None:
        link.publish(topic, payload, qos=1, retain=retain)

    return publish


@dataclass(slots=True)
class _Waiting:
    arrived: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None


class QueueDeviceAdapter:
    """One queue device of a site: :meth:`handle` its vendor messages, :meth:`execute` its commands."""

    actions: frozenset[str] = frozenset()

    def __init__(
        self,
        site: Site,
        device: Device,
        *,
        publish: PublishToDevice,
        on_seen: SeenCallback,
        clock: Callable[[], datetime] = utc_now,
        answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S,
    ) -> None:
        if device.model not in QUEUE_MODELS or device.vendor_topic is None or device.serial is None:
            raise ValueError(f"device {device.id} ({device.model}) is no MQTT queue device with a topic and serial")
        if not 0 < answer_timeout_s < HANDLER_TIMEOUT_S:
            raise ValueError(f"answer_timeout_s {answer_timeout_s} must lie in 0..{HANDLER_TIMEOUT_S} s")
        self.site = site
        self.device = device
        self.topic = device.vendor_topic
        self.set_topic = command_topic(device.vendor_topic)
        self._publish = publish
        self._on_seen = on_seen
        self._clock = clock
        self._answer_timeout_s = answer_timeout_s
        self._lock = threading.Lock()
        self._waiting: dict[str, _Waiting] = {}
        self._clock_off = False
        self.clock_corrections = 0  # messages whose implausible device time was replaced by the receive time

    def handle(self, payload: bytes) -> tuple[Outgoing, ...]:
        """What a vendor message on :attr:`topic` means for the centre; PayloadRejected when it is unusable."""
        now = self._clock()
        message = parse_queue_message(self.device.model, payload)
        if message.serial.casefold() != str(self.device.serial).casefold():
            raise PayloadRejected(
                RejectReason.DEVICE_MISMATCH,
                f"serial: {preview(message.serial)} is not {self.device.serial}, the device on {self.topic}",
            )
        outgoing = self._events_of(message, self._observed_at(message, now))
        self._on_seen(self.device.id, now)
        if isinstance(message, TicketPrinted | PrintFailed | DisplayShown):
            self._answer(message)
        return outgoing

    def execute(self, command: Command) -> CommandOutcome:
        return CommandOutcome("failed", f"{self.device.model} takes no {command.action!r} command")

    def _events_of(self, message: QueueMessage, observed_at: datetime) -> tuple[Outgoing, ...]:
        return ()

    def _event(self, schema: str, name: str, observed_at: datetime, data: Mapping[str, object]) -> Outgoing:
        return Outgoing(self.device.id, Channel.EVENT, name, schema, observed_at, dict(data), critical=True)

    def _observed_at(self, message: QueueMessage, now: datetime) -> datetime:
        plausible = now - MAX_MESSAGE_AGE <= message.time <= now + MAX_CLOCK_AHEAD
        with self._lock:
            if not plausible:
                self.clock_corrections += 1
            starts, ends = not plausible and not self._clock_off, plausible and self._clock_off
            self._clock_off = not plausible
        if starts:
            log.warning(
                "%s: device clock says %s at %s; using the edge's receive time until it is plausible again",
                self.device.id,
                message.time.isoformat(),
                now.isoformat(),
            )
        elif ends:
            log.warning("%s: device clock plausible again", self.device.id)
        return message.time if plausible else now

    def _ask(self, command_id: str, payload: bytes, *, retain: bool) -> Answer | None:
        """Publish a command on /set and wait for the device's answer to it; None when none came in time."""
        waiting = _Waiting()
        with self._lock:
            self._waiting[command_id] = waiting  # before publishing: the answer may come back at once
        try:
            self._publish(self.set_topic, payload, retain)
            waiting.arrived.wait(self._answer_timeout_s)
        finally:
            with self._lock:
                self._waiting.pop(command_id, None)
        return waiting.answer

    def _answer(self, message: Answer) -> None:
        with self._lock:
            waiting = self._waiting.get(message.command_id)
            if waiting is not None:
                waiting.answer = message
                waiting.arrived.set()
        if waiting is None:  # late (after the timeout) or for a command of an earlier agent run
            log.info("%s: %s for command %s, which nobody awaits", self.device.id, message.TYPE, message.command_id)

    def _no_answer(self, what: str) -> CommandOutcome:
        return CommandOutcome("failed", f"no answer from {self.device.id} within {self._answer_timeout_s:g} s{what}")


class DispenserAdapter(QueueDeviceAdapter):
    """Buttons become ticket requests for ``device.services[button - 1]``; ``print`` prints a ticket."""

    actions = frozenset({"print"})

    def _events_of(self, message: QueueMessage, observed_at: datetime) -> tuple[Outgoing, ...]:
        if not isinstance(message, ButtonPress):
            return ()
        services = self.device.services or ()
        if message.button > len(services):
            raise PayloadRejected(
                RejectReason.SCHEMA, f"button: {message.button}, but {self.device.id} has {len(services)} configured"
            )
        data = TicketRequestData(service=services[message.button - 1], button=message.button)
        return (self._event(TICKET_REQUEST_SCHEMA, "ticket_request", observed_at, event_data(data)),)

    def execute(self, command: Command) -> CommandOutcome:
        args = command.typed_args()
        if not isinstance(args, PrintArgs):
            return super().execute(command)
        try:
            issued_at, _offset = parse_time("args.issued_at", args.issued_at)
            request = PrintRequest(
                command_id=command.command_id,
                ticket=args.ticket,
                service=args.service,
                issued_at=issued_at,
                waiting_ahead=args.waiting_ahead,
                estimate=args.estimate,
            )
            payload = encode_print_request(request)
        except (PayloadRejected, ValueError) as exc:
            return CommandOutcome("failed", f"could not be sent to the dispenser: {exc}")
        answer = self._ask(command.command_id, payload, retain=False)
        if answer is None:
            return self._no_answer("; nothing printed as far as the edge knows")
        if isinstance(answer, PrintFailed):
            return CommandOutcome("failed", f"dispenser: {answer.reason}", {"reason": answer.reason})
        if isinstance(answer, TicketPrinted) and answer.ticket == args.ticket:
            return CommandOutcome("done", data={"ticket": answer.ticket})
        return CommandOutcome("failed", f"dispenser answered {answer.TYPE} {getattr(answer, 'ticket', '')!s}")


class TerminalAdapter(QueueDeviceAdapter):
    """Keys become ``terminal.v1`` events for the window the terminal sits at (``device.window``)."""

    def _events_of(self, message: QueueMessage, observed_at: datetime) -> tuple[Outgoing, ...]:
        if not isinstance(message, KeyPress):
            return ()
        try:
            if message.to_window is not None:
                self.site.window(message.to_window)
            if message.to_service is not None:
                self.site.service(message.to_service)
        except SiteLookupError as exc:
            raise PayloadRejected(RejectReason.SCHEMA, f"transfer: {exc}") from None
        data = TerminalData(
            window=str(self.device.window),
            action=message.key,
            ticket=message.ticket,
            to_window=message.to_window,
            to_service=message.to_service,
        )
        return (self._event(TERMINAL_SCHEMA, "terminal", observed_at, event_data(data)),)


class BoardAdapter(QueueDeviceAdapter):
    """``display`` publishes the board's state RETAINED, so a board that reconnects later shows it at once."""

    actions = frozenset({"display"})

    def execute(self, command: Command) -> CommandOutcome:
        args = command.typed_args()
        if not isinstance(args, DisplayArgs):
            return super().execute(command)
        try:
            state = DisplayState(command_id=command.command_id, text=args.text, lines=tuple(args.lines))
            payload = encode_display_state(state)
        except ValueError as exc:
            return CommandOutcome("failed", f"could not be sent to the board: {exc}")
        answer = self._ask(command.command_id, payload, retain=True)
        if answer is None:
            return self._no_answer(f"; the state stays retained on {self.set_topic} for when it reconnects")
        if isinstance(answer, DisplayShown) and answer.text == args.text:
            return CommandOutcome("done")
        return CommandOutcome("failed", f"board shows {getattr(answer, 'text', '')!r}, not {args.text!r}")


_ADAPTERS: Mapping[str, type[QueueDeviceAdapter]] = {
    DISPENSER_MODEL: DispenserAdapter,
    TERMINAL_MODEL: TerminalAdapter,
    BOARD_MODEL: BoardAdapter,
}


def build_queue_adapters(
    site: Site,
    *,
    publish: PublishToDevice,
    on_seen: SeenCallback,
    clock: Callable[[], datetime] = utc_now,
    answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S,
) -> dict[str, QueueDeviceAdapter]:
    """An adapter for every MQTT queue device of the site, keyed by the vendor topic to subscribe to."""
    adapters = [
        _ADAPTERS[device.model](
            site, device, publish=publish, on_seen=on_seen, clock=clock, answer_timeout_s=answer_timeout_s
        )
        for device in site.devices
        if device.model in _ADAPTERS and device.transport == "mqtt"
    ]
    return {adapter.topic: adapter for adapter in adapters}
