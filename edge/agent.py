"""The site agent: subscribe to the site's devices, normalise, and put every envelope in the durable outbox.

A vendor message is acknowledged to the site broker as soon as its envelope is in the outbox (on disk), without
waiting for the centre: the uplink (:mod:`edge.uplink`) sends it on and keeps it until the server confirms the
write. An agent that dies between the submit and the acknowledgement gets the message again with MQTT's DUP flag,
and the outbox hands back the number it gave the first time, so the server stores it once. A bad payload is logged,
counted by reason and acknowledged: it would be just as bad the next time.

Other sources (Modbus pollers, queue devices) submit to :attr:`EdgeAgent.sink`, the same outbox.
"""

from __future__ import annotations

import logging
from collections import Counter

from devices.broker import BrokerAddress
from devices.errors import PayloadRejected
from devices.mqtt_link import InboundMessage, MqttLink, RetainedStatus
from devices.readings import OCCUPANCY_SCHEMA, occupancy_data
from devices.site import Device, Site
from devices.topics import Channel, agent_status_topic
from edge.normalise import is_occupancy_model, parse_occupancy
from edge.outbox import Outbox, OutboxError, OutboxStats
from edge.sink import EnvelopeSink, Outgoing
from edge.uplink import DEFAULT_TIMING, Uplink, UplinkStats, UplinkTiming

log = logging.getLogger(__name__)

# The reject reason of an accepted reading that could not be made into an envelope (a bug of ours, not the device's).
UNENCODABLE = "unencodable"


class EdgeAgent:
    def __init__(
        self,
        *,
        site: Site,
        site_broker: BrokerAddress,
        central_broker: BrokerAddress,
        outbox: Outbox,
        timing: UplinkTiming = DEFAULT_TIMING,
    ) -> None:
        if outbox.site_id != site.id:
            raise ValueError(f"the outbox is site {outbox.site_id!r}'s, not {site.id!r}'s")
        self.site = site
        self._outbox = outbox
        self._devices_by_topic: dict[str, Device] = {
            device.vendor_topic: device
            for device in site.devices
            if device.transport == "mqtt" and device.vendor_topic and is_occupancy_model(device.model)
        }
        self.accepted = 0  # vendor messages whose envelope is in the outbox
        self.redeliveries = 0  # of those, messages the site broker delivered again (DUP flag)
        self.submit_failures = 0  # messages left unacknowledged because the outbox could not take them
        self.rejected: Counter[str] = Counter()
        status = agent_status_topic(site.id, root=outbox.topic_root)
        # A persistent session, so that confirmations published while the agent is away wait for it.
        self._central = MqttLink(
            central_broker,
            client_id=f"sc-edge-{site.id}-uplink",
            persistent=True,
            status=RetainedStatus(
                topic=status, online=b'{"state":"online"}', lost=b'{"state":"lost"}', offline=b'{"state":"offline"}'
            ),
            on_message=self._on_central_message,
        )
        self._uplink = Uplink(outbox, self._central, timing=timing)
        # A persistent session: vendor reports published while the agent is down wait for it at the site broker.
        self._site = MqttLink(
            site_broker,
            client_id=f"sc-edge-{site.id}-devices",
            persistent=True,
            manual_ack=True,
            on_message=self._on_vendor_message,
        )

    @property
    def sink(self) -> EnvelopeSink:
        """Where every source of this agent submits its envelopes (the durable outbox)."""
        return self._outbox

    def outbox_stats(self) -> OutboxStats:
        return self._outbox.stats()

    def uplink_stats(self) -> UplinkStats:
        return self._uplink.stats()

    def start(self) -> None:
        for topic in self._devices_by_topic:
            self._site.subscribe(topic, qos=1)
        self._uplink.start()
        self._central.start()
        self._site.start()
        log.info("edge agent for %s: %d MQTT occupancy devices", self.site.id, len(self._devices_by_topic))

    def wait_connected(self, timeout: float) -> bool:
        return self._central.wait_connected(timeout) and self._site.wait_connected(timeout)

    def stop(self) -> None:
        """Stop taking vendor messages, then stop the uplink; whatever is unconfirmed stays in the outbox."""
        self._site.stop()
        self._uplink.stop()
        self._central.stop()

    def _on_central_message(self, message: InboundMessage) -> None:
        if message.topic == self._uplink.topic:
            self._uplink.handle_confirmation(message)
        else:
            log.debug("no handler for %s from the centre", message.topic)

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
        item = Outgoing(
            device_id=device.id,
            channel=Channel.EVENT,
            name="occupancy",
            schema=OCCUPANCY_SCHEMA,
            observed_at=observed_at,
            data=occupancy_data(reading),
        )
        try:
            # Numbered only once accepted, so a device's sequence has no gaps the server could mistake for losses.
            self._outbox.submit(item, vendor_payload=message.payload, redelivered=message.dup)
        except ValueError as exc:
            self._reject(message, UNENCODABLE, f"{device.id}: {exc}")
            return
        except OutboxError as exc:
            # Not acknowledged: the site broker keeps the message and delivers it again after the next reconnect.
            self.submit_failures += 1
            log.error("%s: report not taken, the outbox failed: %s", device.id, exc)
            return
        self.accepted += 1
        self.redeliveries += message.dup
        self._site.ack(message.mid, message.qos)

    def _reject(self, message: InboundMessage, reason: str, detail: str) -> None:
        """Log and count a bad message and acknowledge it, since it would be just as bad next time."""
        self.rejected[str(reason)] += 1
        log.warning("rejected message on %s (%s): %s", message.topic, reason, detail)
        self._site.ack(message.mid, message.qos)
