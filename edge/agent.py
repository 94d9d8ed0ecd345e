"""The site agent: subscribe to the site's devices, normalise, forward to the centre with QoS 1.

A vendor message is acknowledged to the site broker only once the centre's broker has acknowledged the envelope
made from it (in order, by a small acknowledging thread), so an agent that dies in between gets the message again;
its sequence number is then reused (:class:`edge.sequence.SequenceStore`) and the server stores it once. A bad
payload is logged, counted by reason and acknowledged: it would be just as bad the next time.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from dataclasses import dataclass

from devices.broker import BrokerAddress
from devices.envelope import encode_envelope
from devices.errors import PayloadRejected
from devices.mqtt_link import InboundMessage, MqttLink, PublishReceipt, RetainedStatus
from devices.readings import occupancy_envelope
from devices.site import Device, Site
from devices.topics import Channel, agent_status_topic, device_topic
from edge.normalise import is_occupancy_model, parse_occupancy
from edge.sequence import SequenceStore

log = logging.getLogger(__name__)


# How often the acknowledging thread looks at the oldest forwarded message (seconds).
ACK_POLL_S = 0.005


@dataclass(frozen=True, slots=True)
class _Received:
    """A vendor message awaiting its acknowledgement; ``receipt`` is None when nothing was forwarded (rejected)."""

    receipt: PublishReceipt | None
    source_mid: int
    source_qos: int

    @property
    def done(self) -> bool:
        return self.receipt is None or self.receipt.acknowledged


class EdgeAgent:
    def __init__(
        self,
        *,
        site: Site,
        site_broker: BrokerAddress,
        central_broker: BrokerAddress,
        sequences: SequenceStore,
        topic_root: str = "sc",
    ) -> None:
        self.site = site
        self._root = topic_root
        self._sequences = sequences
        self._devices_by_topic: dict[str, Device] = {
            device.vendor_topic: device
            for device in site.devices
            if device.transport == "mqtt" and device.vendor_topic and is_occupancy_model(device.model)
        }
        self.forwarded = 0
        self.rejected: Counter[str] = Counter()
        self._lock = threading.Lock()
        # MQTT wants PUBACKs in the order the PUBLISHes came (3.1.1 section 4.6), so every message queues here.
        self._unacknowledged: deque[_Received] = deque()
        self._stopping = threading.Event()
        self._acker = threading.Thread(target=self._acknowledge_in_order, name=f"edge-{site.id}-acker", daemon=True)
        status = agent_status_topic(site.id, root=topic_root)
        self._central = MqttLink(
            central_broker,
            client_id=f"sc-edge-{site.id}-uplink",
            status=RetainedStatus(
                topic=status, online=b'{"state":"online"}', lost=b'{"state":"lost"}', offline=b'{"state":"offline"}'
            ),
        )
        # A persistent session: vendor reports published while the agent is down wait for it at the site broker.
        self._site = MqttLink(
            site_broker,
            client_id=f"sc-edge-{site.id}-devices",
            persistent=True,
            manual_ack=True,
            on_message=self._on_vendor_message,
        )

    def start(self) -> None:
        for topic in self._devices_by_topic:
            self._site.subscribe(topic, qos=1)
        self._acker.start()
        self._central.start()
        self._site.start()
        log.info("edge agent for %s: %d MQTT occupancy devices", self.site.id, len(self._devices_by_topic))

    def wait_connected(self, timeout: float) -> bool:
        return self._central.wait_connected(timeout) and self._site.wait_connected(timeout)

    def stop(self) -> None:
        self._site.stop()
        self._stopping.set()
        self._acker.join(timeout=5)
        self._central.stop()

    def _on_vendor_message(self, message: InboundMessage) -> None:
        device = self._devices_by_topic.get(message.topic)
        if device is None:
            self._reject(message, "unknown_topic", f"no device publishes on {message.topic}")
            return
        try:
            observed_at, reading = parse_occupancy(model=device.model, payload=message.payload)
        except PayloadRejected as exc:
            self._reject(message, exc.reason, f"{device.id}: {exc.detail}")
            return
        # Numbered only once accepted, so a device's sequence has no gaps the server could mistake for losses.
        seq = self._sequences.seq_for(device.id, message.payload)
        envelope = occupancy_envelope(device.id, seq, observed_at, reading)
        topic = device_topic(self.site.id, device.id, Channel.EVENT, "occupancy", root=self._root)
        receipt = self._central.publish(topic, encode_envelope(envelope), qos=1)
        with self._lock:
            self.forwarded += 1
            self._unacknowledged.append(_Received(receipt, message.mid, message.qos))

    def _acknowledge_in_order(self) -> None:
        """Acknowledge vendor messages to the site broker in arrival order, each once the centre has its envelope."""
        while not self._stopping.is_set():
            with self._lock:
                ready = []
                while self._unacknowledged and self._unacknowledged[0].done:
                    ready.append(self._unacknowledged.popleft())
            for received in ready:
                self._site.ack(received.source_mid, received.source_qos)
            if not ready:
                self._stopping.wait(ACK_POLL_S)

    def _reject(self, message: InboundMessage, reason: str, detail: str) -> None:
        """Log and count a bad message; it is acknowledged in turn, since it would be just as bad next time."""
        with self._lock:
            self.rejected[str(reason)] += 1
            self._unacknowledged.append(_Received(None, message.mid, message.qos))
        log.warning("rejected message on %s (%s): %s", message.topic, reason, detail)
