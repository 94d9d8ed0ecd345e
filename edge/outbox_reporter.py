"""The agent's outbox, sampled every ``interval_s`` and sent to the centre (wire: devices/outbox_report.py).

Samples go around the outbox, never through it: they describe it. Each sample joins an in-memory ring; while the
central link is up the ring is published at once, oldest first, with QoS 1, the newest of each round retained. While
the link is down the ring keeps the newest ``ring_size`` samples (by default :data:`RING_SPAN_S` worth: an outage of
two hours is shown whole, a longer one loses its start, and memory stays bounded at a few hundred small values) and
they go out after the reconnect, so the centre sees the outbox grow during the outage and drain after it.

A sample is forgotten once handed to the MQTT client while connected: paho keeps a QoS 1 message until the broker
acknowledges it and sends it again after a reconnect, and the centre stores ``(site, ts)`` once. Only a refusal by
the client library itself keeps the sample in the ring for the next round.

:meth:`OutboxReporter.step` does one round on an injected clock (tests call it); :meth:`start` runs it on a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from devices.mqtt_link import MqttLinkError
from devices.outbox_report import OutboxSample, encode_outbox_sample, outbox_report_topic
from devices.timestamps import utc_now
from edge.outbox import OutboxError, OutboxStats

log = logging.getLogger(__name__)

DEFAULT_REPORT_INTERVAL_S = 30.0
# How far back the ring reaches while the centre is unreachable (seconds).
RING_SPAN_S = 7200.0
# How often the thread looks for a due sample or a link that came back (seconds): the delay a reconnect adds.
POLL_S = 0.25


def ring_size_for(interval_s: float) -> int:
    """Samples kept while the link is down: :data:`RING_SPAN_S` worth at ``interval_s``, at least one."""
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, got {interval_s!r}")
    return max(1, int(RING_SPAN_S // interval_s))


class ReportLink(Protocol):
    """What the reporter needs of the central link (an :class:`devices.mqtt_link.MqttLink`)."""

    @property
    def connected(self) -> bool: ...

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> object: ...


class OutboxReporter:
    def __init__(
        self,
        *,
        read_stats: Callable[[], OutboxStats],
        link: ReportLink,
        site_id: str,
        root: str,
        interval_s: float = DEFAULT_REPORT_INTERVAL_S,
        ring_size: int | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        size = ring_size_for(interval_s) if ring_size is None else ring_size
        if size < 1:
            raise ValueError(f"ring_size must be at least 1, got {size}")
        self.topic = outbox_report_topic(site_id, root=root)
        self.interval_s = interval_s
        self._read_stats = read_stats
        self._link = link
        self._clock = clock  # the samples' ts: the agent's wall clock
        self._monotonic = monotonic  # when samples are due: immune to the wall clock being set
        self._ring: deque[OutboxSample] = deque(maxlen=size)
        self._next_due: float | None = None  # None: sample at the next step
        self.taken = 0
        self.published = 0
        self.overwritten = 0  # samples pushed out of a full ring before they could be sent
        self._overwrite_logged = self._stats_failing = self._publish_failing = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"outbox-report-{site_id}", daemon=True)

    @property
    def ring_size(self) -> int:
        return self._ring.maxlen or 0

    @property
    def pending(self) -> tuple[OutboxSample, ...]:
        """Samples not yet handed to the link, oldest first (read it from the stepping thread, or after stop)."""
        return tuple(self._ring)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def step(self) -> None:
        """Take a sample if one is due, then publish what waits if the link is up. Called from one thread."""
        now = self._monotonic()
        if self._next_due is None or now >= self._next_due:
            self._take_sample()
            # On the grid of the first sample, unless a stall put us a whole interval behind: then from now.
            following = (now if self._next_due is None else self._next_due) + self.interval_s
            self._next_due = following if following > now else now + self.interval_s
        self._publish_pending()

    def _run(self) -> None:
        poll = min(POLL_S, self.interval_s)
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception:  # a report must never stop the agent
                log.exception("outbox report of %s failed", self.topic)
            self._stopping.wait(poll)

    def _take_sample(self) -> None:
        try:
            stats = self._read_stats()
        except OutboxError as exc:
            if not self._stats_failing:
                log.warning("outbox not sampled (%s); trying again every %.0f s", exc, self.interval_s)
                self._stats_failing = True
            return
        if self._stats_failing:
            log.warning("outbox sampled again")
            self._stats_failing = False
        sample = OutboxSample(
            ts=self._clock(),
            depth=stats.depth,
            oldest_age_s=stats.oldest_age_s,
            dropped_telemetry=stats.dropped_telemetry,
            max_rows=stats.max_rows,
        )
        if len(self._ring) == self._ring.maxlen:
            self.overwritten += 1
            if not self._overwrite_logged:
                log.warning(
                    "centre unreachable for %.0f s of outbox samples: the oldest are being dropped",
                    self.ring_size * self.interval_s,
                )
                self._overwrite_logged = True
        self._ring.append(sample)
        self.taken += 1

    def _publish_pending(self) -> None:
        if not self._ring or not self._link.connected:
            return
        while self._ring:
            sample = self._ring[0]
            # The newest of the round is retained: the topic's retained message is the current outbox.
            retain = len(self._ring) == 1
            try:
                self._link.publish(self.topic, encode_outbox_sample(sample), qos=1, retain=retain)
            except MqttLinkError as exc:
                if not self._publish_failing:
                    log.warning("outbox samples not sent (%s); kept for the next round", exc)
                    self._publish_failing = True
                return
            self._ring.popleft()
            self.published += 1
        self._publish_failing = self._overwrite_logged = False
