"""The outbox's flusher: sends waiting envelopes to the centre and forgets them only when the server confirms them.

One thread. Each round it

1. applies the confirmations the server sent (``devices.confirmations``; queued by paho's thread): the rows go from
   the outbox and from the in-flight window;
2. sends everything still in flight again, in outbox order, when the central link has just come back (the broker
   may have lost messages it had acknowledged) or when no confirmation came for ``confirm_timeout_s`` (the server
   may be down or have lost them); that wait doubles after each re-send up to ``max_confirm_timeout_s``, so a
   stopped server is not flooded, and falls back as soon as confirmations flow again;
3. sends new rows in outbox order while fewer than ``window`` are in flight.

Nothing is published while the link is down: paho would hold every such message in memory and send it after the
reconnect, on top of our own re-send. Rows go out in outbox order, which is each device's sequence order, and a
re-send repeats the whole window in that order before any new row, so a device's envelopes reach the broker in
order on first sends and on re-sends alike. Duplicates are expected: the server stores ``(device_id, seq)`` once
and confirms the duplicate too.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from devices.confirmations import SeqRange, confirmation_topic, decode_confirmation
from devices.errors import PayloadRejected
from devices.mqtt_link import InboundMessage, MqttLinkError
from edge.outbox import Outbox, OutboxError, OutboxRow

log = logging.getLogger(__name__)

# How often the flusher looks for new rows when nothing woke it (seconds): the latency an idle outbox adds.
POLL_S = 0.02
# Pause after the outbox file failed (seconds), so a full disk is not hammered.
OUTBOX_RETRY_S = 1.0


class CentralLink(Protocol):
    """What the flusher needs of its broker connection (an :class:`devices.mqtt_link.MqttLink`)."""

    @property
    def connected(self) -> bool: ...

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> object: ...

    def subscribe(self, topic_filter: str, qos: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class UplinkTiming:
    window: int = 1000  # envelopes sent and not yet confirmed, at most
    confirm_timeout_s: float = 30.0  # first wait for a confirmation before sending the window again
    max_confirm_timeout_s: float = 300.0  # the wait doubles up to this

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be at least 1, got {self.window}")
        if not 0 < self.confirm_timeout_s <= self.max_confirm_timeout_s:
            raise ValueError("confirm timeouts must satisfy 0 < confirm_timeout_s <= max_confirm_timeout_s")


DEFAULT_TIMING = UplinkTiming()


@dataclass(frozen=True, slots=True)
class UplinkStats:
    in_flight: int  # sent, not yet confirmed
    sent: int  # first sends since start
    resent: int  # re-sends after a reconnect or a confirmation timeout
    confirmed: int  # outbox rows deleted on the server's confirmation
    bad_confirmations: int  # confirmation messages that could not be read
    confirm_timeout_s: float  # the current wait before the window is sent again


@dataclass(slots=True)
class _InFlight:
    row: OutboxRow
    sent_at: float  # clock seconds of the last send


class Uplink:
    def __init__(
        self,
        outbox: Outbox,
        link: CentralLink,
        *,
        timing: UplinkTiming = DEFAULT_TIMING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._link = link
        self._timing = timing
        self._clock = clock
        self.topic = confirmation_topic(outbox.site_id, root=outbox.topic_root)
        # Keyed by (device_id, seq), in outbox order: dicts keep insertion order and rows are added by rising id.
        self._in_flight: dict[tuple[str, int], _InFlight] = {}
        self._cursor = 0  # the highest outbox id taken into the window
        self._timeout = timing.confirm_timeout_s
        self._was_connected = False
        self._confirmations: queue.SimpleQueue[dict[str, list[SeqRange]]] = queue.SimpleQueue()
        self._sent = self._resent = self._confirmed = self._bad_confirmations = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"uplink-{outbox.site_id}", daemon=True)
        link.subscribe(self.topic, qos=1)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def stats(self) -> UplinkStats:
        return UplinkStats(
            in_flight=len(self._in_flight),
            sent=self._sent,
            resent=self._resent,
            confirmed=self._confirmed,
            bad_confirmations=self._bad_confirmations,
            confirm_timeout_s=self._timeout,
        )

    def handle_confirmation(self, message: InboundMessage) -> None:
        """Take a confirmation off paho's thread; the flusher applies it. A bad one is logged and counted."""
        try:
            confirmed = decode_confirmation(message.payload)
        except PayloadRejected as exc:
            self._bad_confirmations += 1
            log.warning("unreadable confirmation on %s: %s", message.topic, exc)
            return
        self._confirmations.put(confirmed)
        self._wake.set()

    def step(self) -> None:
        """One round of the flusher (see the module's docstring); the thread calls it, tests may too."""
        self._apply_confirmations()
        connected = self._link.connected
        reconnected = connected and not self._was_connected
        self._was_connected = connected
        if not connected:
            return
        now = self._clock()
        if self._in_flight:
            if reconnected:
                log.info("central link up: sending %d unconfirmed envelope(s) again", len(self._in_flight))
                self._send_window_again(now)
            elif now - next(iter(self._in_flight.values())).sent_at >= self._timeout:
                log.warning(
                    "no confirmation for %.0f s: sending %d envelope(s) again", self._timeout, len(self._in_flight)
                )
                self._send_window_again(now)
                self._timeout = min(self._timeout * 2, self._timing.max_confirm_timeout_s)
        self._send_new(now)

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.step()
            except OutboxError as exc:
                if not failing:
                    log.error("outbox failed (%s); retrying every %.0f s", exc, OUTBOX_RETRY_S)
                    failing = True
                self._stopping.wait(OUTBOX_RETRY_S)
                continue
            if failing:
                log.warning("outbox usable again")
                failing = False
            self._wake.wait(POLL_S)

    def _apply_confirmations(self) -> None:
        merged: dict[str, list[SeqRange]] = {}
        while True:
            try:
                confirmed = self._confirmations.get_nowait()
            except queue.Empty:
                break
            for device_id, ranges in confirmed.items():
                merged.setdefault(device_id, []).extend(ranges)
        if not merged:
            return
        try:
            self._confirmed += self._outbox.delete_confirmed(merged)
        except OutboxError:
            self._confirmations.put(merged)  # applied on the next round instead
            raise
        for device_id, ranges in merged.items():
            for first, last in ranges:
                self._forget(device_id, first, last)
        self._timeout = self._timing.confirm_timeout_s  # the server answers again

    def _forget(self, device_id: str, first: int, last: int) -> None:
        if last - first < len(self._in_flight):
            for seq in range(first, last + 1):
                self._in_flight.pop((device_id, seq), None)
        else:  # a range wider than the window: look at the window instead of every number in the range
            for key in [key for key in self._in_flight if key[0] == device_id and first <= key[1] <= last]:
                del self._in_flight[key]

    def _send_window_again(self, now: float) -> None:
        for entry in self._in_flight.values():
            self._publish(entry.row)
            entry.sent_at = now
            self._resent += 1

    def _send_new(self, now: float) -> None:
        room = self._timing.window - len(self._in_flight)
        if room <= 0 or self._outbox.last_id <= self._cursor:
            return
        for row in self._outbox.pending(after_id=self._cursor, limit=room):
            self._publish(row)
            self._in_flight[(row.device_id, row.seq)] = _InFlight(row, now)
            self._cursor = row.id
            self._sent += 1

    def _publish(self, row: OutboxRow) -> None:
        try:
            self._link.publish(row.topic, row.payload, qos=1)
        except MqttLinkError as exc:  # refused by the client library itself; kept in flight and tried again later
            log.warning("%s seq %d not sent: %s", row.device_id, row.seq, exc)
