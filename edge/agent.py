"""The site agent: every device of one site, normalised into envelopes in the durable outbox, and commands back.

- MQTT devices publish vendor JSON on the site broker: occupancy sensors (:mod:`edge.normalise`) and queue devices
  (:mod:`edge.mqtt_devices`). A vendor message is acknowledged to the site broker as soon as what it means is in the
  outbox (on disk), without waiting for the centre. An agent that dies in between gets the message again with MQTT's
  DUP flag, and the outbox hands back the number it gave the first time, so the server stores it once. A bad payload
  is logged, counted by reason and acknowledged: it would be just as bad the next time.
- Modbus devices are polled on a loop of their own (:mod:`edge.modbus_devices`); one dead device delays only itself.
- The uplink (:mod:`edge.uplink`) sends the outbox on to the centre and keeps each envelope until the server
  confirms it was written.
- Commands from the centre (``…/<device>/cmd/<action>``) go to the command router (:mod:`edge.commands`), which
  answers each with a result envelope through the outbox.
- Device health (:mod:`edge.device_health`) is published retained per device; the agent's own status is retained
  too, with a last will that says ``lost``.
- The outbox's depth is sampled every ``outbox_report_interval_s`` and sent to the centre around the outbox
  (:mod:`edge.outbox_reporter`), kept in memory while the centre is unreachable.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

from devices.broker import BrokerAddress
from devices.errors import PayloadRejected
from devices.mqtt_link import InboundMessage, MqttLink, RetainedStatus
from devices.readings import OCCUPANCY_SCHEMA, occupancy_data
from devices.site import Device, Site
from devices.timestamps import utc_now
from devices.topics import AGENT_DEVICE_ID, WIRE_VERSION, Channel, agent_status_topic
from edge.command_handler import CommandHandler
from edge.commands import CommandRouter
from edge.device_health import DeviceHealth
from edge.modbus_devices import ModbusDevices, pymodbus_client
from edge.modbus_door import CardCounterFile
from edge.modbus_reader import RegisterClient
from edge.mqtt_devices import QueueDeviceAdapter, build_queue_adapters, publisher_for
from edge.normalise import is_occupancy_model, parse_occupancy
from edge.outbox import Outbox, OutboxError, OutboxStats
from edge.outbox_reporter import DEFAULT_REPORT_INTERVAL_S, OutboxReporter
from edge.queue_outputs import QueueOutputs
from edge.sink import EnvelopeSink, Outgoing
from edge.site_queue import SiteQueueService
from edge.status_publisher import CentralStatusPublisher
from edge.uplink import DEFAULT_TIMING, Uplink, UplinkStats, UplinkTiming

log = logging.getLogger(__name__)

# The reject reason of an accepted reading that could not be made into an envelope (a bug of ours, not the device's).
UNENCODABLE = "unencodable"
# How often device health is re-evaluated (a device goes stale when its report is overdue), in seconds.
HEALTH_TICK_S = 1.0
# Take and window commands from the centre waiting for the queue: a burst of API requests (residents taking tickets
# by phone when the hall opens) must queue up here, not be refused as a busy device.
QUEUE_COMMANDS_WAITING = 2048


class EdgeAgent:
    def __init__(
        self,
        *,
        site: Site,
        tz: tzinfo,
        site_broker: BrokerAddress,
        central_broker: BrokerAddress,
        outbox: Outbox,
        state_dir: Path | None = None,
        timing: UplinkTiming = DEFAULT_TIMING,
        modbus_client_factory: Callable[[Device], RegisterClient] = pymodbus_client,
        clock: Callable[[], datetime] = utc_now,
        queue_clock: Callable[[], datetime] | None = None,
        outbox_report_interval_s: float = DEFAULT_REPORT_INTERVAL_S,
    ) -> None:
        if outbox.site_id != site.id:
            raise ValueError(f"the outbox is site {outbox.site_id!r}'s, not {site.id!r}'s")
        self.site = site
        root = outbox.topic_root
        self._outbox = outbox
        self._clock = clock
        self._sensors: dict[str, Device] = {
            device.vendor_topic: device
            for device in site.devices
            if device.transport == "mqtt" and device.vendor_topic and is_occupancy_model(device.model)
        }
        self.accepted = 0  # vendor messages whose envelope is in the outbox
        self.redeliveries = 0  # of those, messages the site broker delivered again (DUP flag)
        self.submit_failures = 0  # messages left unacknowledged because the outbox could not take them
        self.rejected: Counter[str] = Counter()
        # A persistent session, so that confirmations and commands published while the agent is away wait for it.
        self._central = MqttLink(
            central_broker,
            client_id=f"sc-edge-{site.id}-uplink",
            persistent=True,
            status=RetainedStatus(
                topic=agent_status_topic(site.id, root=root),
                online=b'{"state":"online"}',
                lost=b'{"state":"lost"}',
                offline=b'{"state":"offline"}',
            ),
            on_message=self._on_central_message,
        )
        self._uplink = Uplink(outbox, self._central, timing=timing)
        self.outbox_reports = OutboxReporter(
            read_stats=outbox.stats,
            link=self._central,
            site_id=site.id,
            root=root,
            interval_s=outbox_report_interval_s,
            clock=clock,
        )
        # A persistent session: vendor reports published while the agent is down wait for it at the site broker.
        self._site = MqttLink(
            site_broker,
            client_id=f"sc-edge-{site.id}-devices",
            persistent=True,
            manual_ack=True,
            on_message=self._on_vendor_message,
        )
        self.health = DeviceHealth(
            site.devices, CentralStatusPublisher(self._central, site_id=site.id, root=root, clock=clock), clock=clock
        )
        self._queue_devices: dict[str, QueueDeviceAdapter] = build_queue_adapters(
            site, publish=publisher_for(self._site), on_seen=self.health.seen, clock=clock
        )
        self.modbus = ModbusDevices(
            site,
            tz=tz,
            sink=outbox,
            health=self.health,
            clock=clock,
            card_counters=None if state_dir is None else CardCounterFile(state_dir / f"{site.id}-door-counters.json"),
            client_factory=modbus_client_factory,
        )
        handlers: dict[str, CommandHandler] = dict(self.modbus.handlers)
        handlers.update({a.device.id: a for a in self._queue_devices.values() if a.actions})
        # The site's ticket queue, when it has services: buttons, keys and the centre's take/window commands.
        self.queue: SiteQueueService | None = None
        if site.services and site.windows:
            self.queue = SiteQueueService(
                site,
                tz=tz,
                outbox=outbox,
                outputs=QueueOutputs(site, dict(handlers), wall_clock=clock),
                clock=queue_clock or clock,
                wall_clock=clock,
            )
            handlers[AGENT_DEVICE_ID] = self.queue
        self.commands = CommandRouter(
            site, handlers, outbox, clock, root=root, queue_sizes={AGENT_DEVICE_ID: QUEUE_COMMANDS_WAITING}
        )
        self._command_filter = f"{root}/{WIRE_VERSION}/{site.id}/+/{Channel.CMD.value}/+"
        self._stopping = threading.Event()
        self._health_thread = threading.Thread(target=self._watch_health, name=f"edge-{site.id}-health", daemon=True)

    @property
    def sink(self) -> EnvelopeSink:
        """Where every source of this agent submits its envelopes (the durable outbox)."""
        return self._outbox

    def outbox_stats(self) -> OutboxStats:
        return self._outbox.stats()

    def uplink_stats(self) -> UplinkStats:
        return self._uplink.stats()

    def start(self) -> None:
        for topic in [*self._sensors, *self._queue_devices]:
            self._site.subscribe(topic, qos=1)
        self._central.subscribe(self._command_filter, qos=1)
        self._uplink.start()
        self._central.start()
        self.outbox_reports.start()
        self._site.start()
        self.modbus.start()
        if self.queue is not None:
            self.queue.start()
        self._health_thread.start()
        log.info(
            "edge agent for %s: %d occupancy sensors, %d queue devices, %d Modbus devices",
            self.site.id,
            len(self._sensors),
            len(self._queue_devices),
            len(self.modbus.adapters),
        )

    def wait_connected(self, timeout: float) -> bool:
        return self._central.wait_connected(timeout) and self._site.wait_connected(timeout)

    def stop(self) -> None:
        """Stop taking input, finish commands, release door strikes, then stop the uplink; whatever is unconfirmed
        stays in the outbox."""
        self._site.stop()
        self.commands.close()
        if self.queue is not None:
            self.queue.stop()
        self.modbus.stop()
        self._stopping.set()
        if self._health_thread.is_alive():
            self._health_thread.join(timeout=5)
        self._uplink.stop()
        self.outbox_reports.stop()
        self._central.stop()

    def _watch_health(self) -> None:
        """Re-evaluate device health every tick, and publish every status again after the centre comes back."""
        was_connected = False
        while not self._stopping.wait(HEALTH_TICK_S):
            try:
                self.health.tick()
                connected = self._central.connected
                if connected and not was_connected:
                    self.health.republish()
                was_connected = connected
            except Exception:  # health must never stop the agent
                log.exception("device health check failed")

    def _on_central_message(self, message: InboundMessage) -> None:
        if message.topic == self._uplink.topic:
            self._uplink.handle_confirmation(message)
        else:  # only the command filter is subscribed besides the confirmations
            self.commands.handle(message.topic, message.payload)

    def _on_vendor_message(self, message: InboundMessage) -> None:
        sensor = self._sensors.get(message.topic)
        adapter = self._queue_devices.get(message.topic)
        interpret: Callable[[bytes], tuple[Outgoing, ...]]
        if sensor is not None:
            device_id, interpret = sensor.id, functools.partial(self._occupancy, sensor)
        elif adapter is not None:
            device_id, interpret = adapter.device.id, adapter.handle
        else:
            self._reject(message, "unknown_topic", f"no device publishes on {message.topic}")
            return
        try:
            items = interpret(message.payload)
        except PayloadRejected as exc:
            self._reject(message, exc.reason, f"{device_id}: {exc.detail}")
            return
        try:
            if self.queue is not None and adapter is not None and items:
                # A button or a key: the queue acts, and saves with the device's event, in one transaction.
                self.queue.on_device_items(items, vendor_payload=message.payload, redelivered=message.dup)
                items = ()
            for item in items:
                # Numbered only once accepted, so a device's sequence has no gaps the server could take for losses.
                # The payload identifies a redelivery only when it made exactly one envelope.
                vendor_payload = message.payload if len(items) == 1 else None
                self._outbox.submit(item, vendor_payload=vendor_payload, redelivered=message.dup)
        except ValueError as exc:
            self._reject(message, UNENCODABLE, f"{device_id}: {exc}")
            return
        except OutboxError as exc:
            # Not acknowledged: the site broker keeps the message and delivers it again after the next reconnect.
            self.submit_failures += 1
            log.error("%s: message not taken, the outbox failed: %s", device_id, exc)
            return
        self.accepted += 1
        self.redeliveries += message.dup
        self._site.ack(message.mid, message.qos)

    def _occupancy(self, device: Device, payload: bytes) -> tuple[Outgoing, ...]:
        observed_at, reading = parse_occupancy(model=device.model, payload=payload)
        self.health.seen(device.id, self._clock())
        item = Outgoing(
            device_id=device.id,
            channel=Channel.EVENT,
            name="occupancy",
            schema=OCCUPANCY_SCHEMA,
            observed_at=observed_at,
            data=occupancy_data(reading),
        )
        return (item,)

    def _reject(self, message: InboundMessage, reason: str, detail: str) -> None:
        """Log and count a bad message and acknowledge it, since it would be just as bad next time."""
        self.rejected[str(reason)] += 1
        log.warning("rejected message on %s (%s): %s", message.topic, reason, detail)
        self._site.ack(message.mid, message.qos)
