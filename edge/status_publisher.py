"""Device health to the centre: each device's status, retained on ``<root>/v1/<site>/<device_id>/status``.

Only the newest status matters, so it does not go through the outbox: it is published retained with QoS 1 while the
central link is up, and everything is published again after each reconnect (:meth:`EdgeAgent` calls
``DeviceHealth.republish``), which also restores a retained copy the broker lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from devices.device_status import StatusReport, encode_status
from devices.mqtt_link import MqttLink, MqttLinkError
from devices.topics import Channel, device_topic
from edge.sink import DeviceStatus

log = logging.getLogger(__name__)


class CentralStatusPublisher:
    """A :class:`edge.sink.StatusSink` publishing on the agent's central link."""

    def __init__(self, link: MqttLink, *, site_id: str, root: str, clock: Callable[[], datetime]) -> None:
        self._link = link
        self._site_id = site_id
        self._root = root
        self._clock = clock
        self.published = 0
        self.skipped_while_down = 0

    def publish_status(self, status: DeviceStatus) -> None:
        if not self._link.connected:
            self.skipped_while_down += 1  # republished in full after the reconnect
            return
        report = StatusReport(status.state, status.since, status.last_seen, status.detail, self._clock())
        topic = device_topic(self._site_id, status.device_id, Channel.STATUS, root=self._root)
        try:
            self._link.publish(topic, encode_status(report), qos=1, retain=True)
        except MqttLinkError as exc:
            log.warning("status of %s not published: %s", status.device_id, exc)
            return
        self.published += 1
