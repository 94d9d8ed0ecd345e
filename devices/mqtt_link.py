"""One MQTT connection as every Smart Complex program uses it; paho stays inside this module.

Edge agents, simulators and the server's ingest all need the same few things from a broker connection: connect
in the background and keep reconnecting with backoff, re-subscribe after every reconnect, a retained online status
with a last will that says ``lost``, QoS 1 publishing, and (for consumers that write somewhere durable first)
acknowledging a message only after it is safe. Messages leave here as frozen :class:`InboundMessage` values.

MQTT 5 is used so that a broker's refusal is visible in the PUBACK reason code instead of a silent drop (see
shared/research/reliability.md, section 1).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.broker import BrokerAddress

log = logging.getLogger(__name__)

# A persistent session outlives a restart of its client by this long (seconds); queued QoS 1 messages wait for it.
PERSISTENT_SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    # MQTT's DUP flag: the broker delivered this message before (the receiver's session resumed before it was
    # acknowledged), so the receiver may already have acted on it. False for a first delivery.
    dup: bool = False


@dataclass(frozen=True, slots=True)
class RetainedStatus:
    """The retained status topic and the payloads for online (after connect) and lost (the will)."""

    topic: str
    online: bytes
    lost: bytes
    offline: bytes


class PublishReceipt:
    """Tells whether the broker has acknowledged one QoS 1 publish."""

    __slots__ = ("_info",)

    def __init__(self, info: paho.MQTTMessageInfo) -> None:
        self._info = info

    @property
    def acknowledged(self) -> bool:
        return bool(self._info.is_published())


class MqttLinkError(Exception):
    """A publish or subscribe the client library refused outright (not a broker outage: those are retried)."""


class MqttLink:
    """A background-connected MQTT 5 client.

    ``persistent=True`` asks the broker to keep the session (subscriptions and unacknowledged QoS 1 messages)
    across disconnects; ``manual_ack=True`` leaves acknowledging each received message to the caller (:meth:`ack`).
    """

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        persistent: bool = False,
        manual_ack: bool = False,
        status: RetainedStatus | None = None,
        on_message: Callable[[InboundMessage], None] | None = None,
    ) -> None:
        self.address = address
        self.client_id = client_id
        self._persistent = persistent
        self._status = status
        self._subscriptions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._outage_logged = False
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
        )
        paho_log = logging.getLogger(f"{__name__}.paho")
        # paho's network thread logs an ERROR on every loop while the socket is gone (an outage, or our own clean
        # disconnect); this module logs an outage once when it starts and once when it ends instead.
        paho_log.addFilter(lambda record: not record.getMessage().startswith("Client is not connected"))
        self._client.enable_logger(paho_log)
        # Backoff between reconnect attempts: 1 s doubling to 30 s (a field broker restart takes seconds).
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        if address.username:
            self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        if status is not None:
            self._client.will_set(status.topic, status.lost, qos=1, retain=True)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_subscribe = self._handle_subscribe
        self._resubscribe_mid: int | None = None
        if on_message is not None:

            def deliver(_client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
                inbound = InboundMessage(
                    topic=msg.topic,
                    payload=bytes(msg.payload),
                    qos=msg.qos,
                    retain=bool(msg.retain),
                    mid=msg.mid,
                    dup=bool(msg.dup),
                )
                # An exception escaping a paho callback would end the network thread: log it and go on.
                try:
                    on_message(inbound)
                except Exception:
                    log.exception("handling a message on %s failed", msg.topic)

            self._client.on_message = deliver

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background; returns at once. Reconnects forever until :meth:`stop`."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = PERSISTENT_SESSION_EXPIRY_S if self._persistent else 0
        self._client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=15,
            clean_start=not self._persistent,
            properties=properties,
        )
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Publish the offline status (if connected), disconnect cleanly and stop the network thread."""
        if self._status is not None and self.connected:
            info = self._client.publish(self._status.topic, self._status.offline, qos=1, retain=True)
            info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        with self._lock:
            self._subscriptions[topic_filter] = qos
        if self.connected:
            self._client.subscribe(topic_filter, qos)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> PublishReceipt:
        """Queue a message (sent now, or after reconnecting); the receipt tells when the broker has it."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise MqttLinkError(f"publish to {topic} refused: {paho.error_string(info.rc)}")
        return PublishReceipt(info)

    def publish_and_wait(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout: float = 5.0
    ) -> bool:
        """Publish and wait for the broker's acknowledgement; False when it did not come in time."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        try:
            info.wait_for_publish(timeout=timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received message (only with ``manual_ack=True``)."""
        self._client.ack(mid, qos)

    def _handle_connect(
        self, client: paho.Client, _userdata: object, _flags: object, reason: object, _props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT %s refused %s: %s", self.address, self.client_id, reason)
            return
        if self._outage_logged:
            log.warning("MQTT %s reachable again for %s", self.address, self.client_id)
            self._outage_logged = False
        else:
            log.info("MQTT %s connected as %s", self.address, self.client_id)
        if self._status is not None:
            client.publish(self._status.topic, self._status.online, qos=1, retain=True)
        with self._lock:
            subscriptions = list(self._subscriptions.items())
        if not subscriptions:
            self._connected.set()
            return
        # Connected counts from the SUBACK on: a caller that waits for it knows nothing published later is missed.
        _rc, self._resubscribe_mid = client.subscribe(subscriptions)

    def _handle_subscribe(
        self, _client: paho.Client, _userdata: object, mid: int, reasons: list[ReasonCode], _props: object
    ) -> None:
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            log.warning("MQTT %s refused subscriptions of %s: %s", self.address, self.client_id, refused)
        if mid == self._resubscribe_mid:
            self._connected.set()

    def _handle_disconnect(
        self, _client: paho.Client, _userdata: object, _flags: object, reason: object, _props: object
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        # Logged once when an outage starts and once when it ends, not on every reconnect attempt.
        if was_connected and getattr(reason, "is_failure", False) and not self._outage_logged:
            log.warning("MQTT %s lost for %s: %s; reconnecting", self.address, self.client_id, reason)
            self._outage_logged = True
