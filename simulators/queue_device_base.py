"""What every simulated MQTT queue device does (:mod:`simulators.queue_devices` has the three models): its own
connection to the site broker, a message counter, heartbeats, and the offline and malformed-payload faults."""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import ClassVar, TypedDict
from zoneinfo import ZoneInfo

from devices.broker import BrokerAddress
from devices.mqtt_link import InboundMessage, MqttLink
from devices.site import Device
from devices.timestamps import utc_now
from devices.vendors.queue_devices import QueueMessage, command_topic, encode_queue_message
from devices.vendors.queue_wire import MAX_QUEUE_PAYLOAD_BYTES, MAX_SEQ

log = logging.getLogger(__name__)

DEVICE_TZ = ZoneInfo("Asia/Shanghai")  # set at installation; every site of the belt is in Shanghai
GARBAGE_KINDS = ("not_utf8", "truncated", "array", "unknown_type", "no_time", "nan", "empty", "oversized")


class Header(TypedDict):
    """The header fields of the next message (:class:`devices.vendors.queue_wire.DeviceMessage`)."""

    serial: str
    seq: int
    time: datetime
    utc_offset: timedelta


MessageBuilder = Callable[[Header], QueueMessage]


class QueueDeviceSimulator:
    """What every queue device does: one MQTT connection, a message counter, heartbeats, faults."""

    MODEL: ClassVar[str] = ""
    TAKES_COMMANDS: ClassVar[bool] = False

    def __init__(
        self,
        device: Device,
        broker: BrokerAddress,
        *,
        seed: int = 0,
        tz: tzinfo = DEVICE_TZ,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if device.model != self.MODEL or device.vendor_topic is None or device.serial is None:
            raise ValueError(f"device {device.id} ({device.model}) is no {self.MODEL} with a vendor topic and serial")
        self.device = device
        self.topic = device.vendor_topic
        self.set_topic = command_topic(device.vendor_topic)
        self.serial = device.serial
        self._broker = broker
        self._tz = tz
        self._wall_clock = wall_clock
        self._rng = random.Random(f"{seed}:{device.id}")
        self._lock = threading.Lock()
        self._link: MqttLink | None = None
        self._seq = 0
        self._malformed_left = 0
        self._heartbeat_due: float | None = None  # time.monotonic() of the next heartbeat; None while offline
        self.published = 0  # payloads handed to the broker connection, garbage included
        self.dropped = 0  # messages not sent because the device was offline
        self.offline = False

    # -- running ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; the first heartbeat goes out on the next :meth:`tick`."""
        with self._lock:
            if self._link is not None or self.offline:
                return
            link = MqttLink(
                self._broker,
                client_id=f"sc-sim-{self.device.id}-{secrets.token_hex(3)}",
                on_message=self._on_message if self.TAKES_COMMANDS else None,
            )
            if self.TAKES_COMMANDS:
                link.subscribe(self.set_topic, qos=1)
            self._link = link
            self._heartbeat_due = time.monotonic()
        link.start()

    def wait_connected(self, timeout: float) -> bool:
        link = self._link
        return link is not None and link.wait_connected(timeout)

    def stop(self) -> None:
        with self._lock:
            link, self._link, self._heartbeat_due = self._link, None, None
        if link is not None:  # outside the lock: stopping joins paho's thread, which may be waiting for it
            link.stop()

    def tick(self) -> None:
        """Publish a heartbeat if one is due."""
        with self._lock:
            due = self._heartbeat_due is not None and time.monotonic() >= self._heartbeat_due
            if due:
                self._heartbeat_due = time.monotonic() + self.device.report_interval_s
        if due:
            self._send(self._heartbeat)

    # -- faults -------------------------------------------------------------------------------------------------

    def set_offline(self, offline: bool) -> None:
        """Offline: stop publishing and answering, and disconnect. Back online: reconnect (and heartbeat)."""
        with self._lock:
            self.offline = offline
        if offline:
            self.stop()
        else:
            self.start()

    def inject_malformed(self, count: int) -> None:
        """The next ``count`` payloads are garbage instead of their message."""
        if count < 0:
            raise ValueError(f"count {count} must be >= 0")
        with self._lock:
            self._malformed_left = count

    # -- for subclasses -----------------------------------------------------------------------------------------

    def _heartbeat(self, header: Header) -> QueueMessage:
        """The model's heartbeat message; every model overrides it."""
        raise NotImplementedError

    def _on_set(self, payload: bytes) -> None:
        """A message on ``<vendor topic>/set`` (only devices that take commands)."""

    def _header(self) -> Header:
        """Serial, next message counter and the wall-clock time in the device's zone; call with the lock held."""
        now = self._wall_clock()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the firmware's clock counts milliseconds
        self._seq = (self._seq + 1) % (MAX_SEQ + 1)
        offset = now.astimezone(self._tz).utcoffset() or timedelta(0)
        return Header(serial=self.serial, seq=self._seq, time=now, utc_offset=offset)

    def _send(self, build: MessageBuilder) -> bool:
        """Publish the message ``build`` makes from a fresh header; False when offline, and it was lost."""
        with self._lock:
            # Encoded first, so a message the device could not send is a ValueError also while it is offline.
            payload = encode_queue_message(build(self._header()))
            link = self._link
            if self.offline or link is None:
                self.dropped += 1
                return False
            if self._malformed_left > 0:
                self._malformed_left -= 1
                payload = garbage(payload, self._rng.choice(GARBAGE_KINDS))
            link.publish(self.topic, payload, qos=1)  # under the lock: the counter rises in publishing order
            self.published += 1
        return True

    def _on_message(self, message: InboundMessage) -> None:
        if message.topic != self.set_topic or self.offline:
            return
        self._on_set(message.payload)


def garbage(good: bytes, kind: str) -> bytes:
    """A good payload spoilt the way ``kind`` (one of :data:`GARBAGE_KINDS`) says; each is refused by the edge."""
    document = json.loads(good)
    if kind == "not_utf8":
        return b"\xff\xfe" + good[2:]
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "array":
        return json.dumps([document]).encode()
    if kind == "unknown_type":
        return json.dumps(document | {"type": "self_test"}).encode()
    if kind == "no_time":
        return json.dumps({k: v for k, v in document.items() if k != "time"}).encode()
    if kind == "nan":
        return good[:-1] + b',"level":NaN}'
    if kind == "empty":
        return b""
    if kind == "oversized":
        return json.dumps(document | {"dump": "x" * MAX_QUEUE_PAYLOAD_BYTES}).encode()
    raise ValueError(f"garbage kind {kind!r} is not one of {', '.join(GARBAGE_KINDS)}")
