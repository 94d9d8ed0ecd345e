"""The ingest: edge envelopes from the broker into PostgreSQL, in batches, acknowledged only after COMMIT.

paho's network thread puts each message on a queue; one writer thread takes everything waiting (up to
``batch_max``), classifies it, writes readings, other events, device statuses, edge outbox samples and rejects in
one transaction, commits, tells each site's edge agent which of its envelopes are now durable
(``devices.confirmations``: its outbox forgets only those), and only then acknowledges the messages to the broker.
A crash before the commit leaves them unacknowledged in the server's persistent session, so the broker delivers
them again, and the ``(device_id, seq, ts)`` key stores them once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from devices.broker import BrokerAddress
from devices.confirmations import confirmation_topic, encode_confirmation
from devices.mqtt_link import InboundMessage, MqttLink, MqttLinkError
from devices.outbox_report import outbox_report_subscription
from devices.site import Belt
from devices.timestamps import utc_now
from devices.topics import WIRE_VERSION, Channel, channel_subscription, event_subscription
from server.db.errors import DatabaseError
from server.db.readings import StoredReading, insert_readings
from server.db.rejects import IngestReject, insert_rejects
from server.ingest.classify import (
    INTERNAL_ERROR,
    DeliveryKey,
    classify_message,
    reject_delivery_key,
    unclassifiable,
)
from server.ingest.device_records import DeviceRecords, log_written

log = logging.getLogger(__name__)

# How long the writer waits for more messages once it has one, so a burst lands in one transaction (seconds).
BATCH_LINGER_S = 0.02
# Backoff between attempts to reach the database after a failure (seconds): 0.5 doubling to 10.
DB_RETRY_MIN_S = 0.5
DB_RETRY_MAX_S = 10.0


@dataclass(slots=True)
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    events: int = 0  # new event rows (access, door, ticket requests, terminal keys, command results)
    statuses: int = 0  # device status reports recorded
    outbox_samples: int = 0  # new samples of edge outboxes stored
    confirmed: int = 0  # envelopes confirmed to their edge agents as durable
    database_ok: bool = True

    def snapshot(self) -> dict[str, object]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": dict(self.rejected),
            "batches": self.batches,
            "events": self.events,
            "statuses": self.statuses,
            "outbox_samples": self.outbox_samples,
            "confirmed": self.confirmed,
            "database_ok": self.database_ok,
        }


class IngestService:
    def __init__(
        self,
        *,
        belt: Belt,
        broker: BrokerAddress,
        conninfo: str,
        client_id: str,
        topic_root: str = "sc",
        batch_max: int = 5000,
        max_future: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._belt = belt
        self._conninfo = conninfo
        self._root = topic_root
        self._batch_max = batch_max
        self._max_future = max_future
        self._clock = clock
        self.stats = IngestStats()
        self._stats_lock = threading.Lock()
        self._inbox: queue.SimpleQueue[InboundMessage] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._writer = threading.Thread(target=self._write_forever, name="ingest-writer", daemon=True)
        self._link = MqttLink(broker, client_id=client_id, persistent=True, manual_ack=True, on_message=self._inbox.put)
        self._link.subscribe(event_subscription(root=topic_root), qos=1)
        # Device health (retained: the newest of each device arrives at every subscribe) and command answers.
        self._link.subscribe(channel_subscription(Channel.STATUS, root=topic_root), qos=1)
        self._link.subscribe(f"{topic_root}/{WIRE_VERSION}/+/+/{Channel.CMD.value}/+/result", qos=1)
        # Each site's edge outbox samples (the newest retained, the ones taken during an uplink outage after it).
        self._link.subscribe(outbox_report_subscription(root=topic_root), qos=1)

    @property
    def mqtt_connected(self) -> bool:
        return self._link.connected

    def start(self) -> None:
        self._writer.start()
        self._link.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._link.wait_connected(timeout)

    def stop(self) -> None:
        """Stop taking messages; what is not committed stays unacknowledged at the broker for the next run."""
        self._stopping.set()
        self._writer.join(timeout=15)
        self._link.stop()

    def stats_snapshot(self) -> dict[str, object]:
        with self._stats_lock:
            return self.stats.snapshot()

    def _take_batch(self) -> list[InboundMessage]:
        try:
            batch = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + BATCH_LINGER_S
        while len(batch) < self._batch_max:
            try:
                batch.append(self._inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _write_forever(self) -> None:
        connection: psycopg.Connection | None = None
        while not self._stopping.is_set():
            batch = self._take_batch()
            if not batch:
                continue
            written = self._write_until_committed(batch, connection)
            if written is None:  # stopping before the batch could be written: the broker keeps it
                break
            connection, durable = written
            self._confirm(durable)
            for message in batch:
                self._link.ack(message.mid, message.qos)
        if connection is not None:
            connection.close()

    def _write_until_committed(
        self, batch: list[InboundMessage], connection: psycopg.Connection | None
    ) -> tuple[psycopg.Connection, list[DeliveryKey]] | None:
        delay = DB_RETRY_MIN_S
        while not self._stopping.is_set():
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(self._conninfo, connect_timeout=5)
                durable = self._write_batch(connection, batch)
                if not self.stats.database_ok:
                    log.warning("database reachable again; ingest resumed")
                    self.stats.database_ok = True
                return connection, durable
            except (psycopg.Error, DatabaseError) as exc:
                if self.stats.database_ok:
                    log.warning("database write failed (%s); retrying with backoff, messages kept", exc)
                    self.stats.database_ok = False
                if connection is not None:
                    connection.close()
                connection = None
                self._stopping.wait(delay)
                delay = min(delay * 2, DB_RETRY_MAX_S)
        return None

    def _write_batch(self, connection: psycopg.Connection, batch: list[InboundMessage]) -> list[DeliveryKey]:
        """Write one batch in one transaction; returns the edge envelopes it made durable, for confirmation."""
        now = self._clock()
        readings: list[StoredReading] = []
        rejects: list[IngestReject] = []
        records = DeviceRecords()
        durable: list[DeliveryKey] = []
        for message in batch:
            try:
                outcome = classify_message(
                    message, belt=self._belt, root=self._root, now=now, max_future=self._max_future
                )
            except Exception as exc:  # a bug must cost one message, not stop the ingest
                log.exception("classifying a message on %s failed", message.topic)
                outcome = unclassifiable(message, now=now, error=exc)
            if isinstance(outcome, IngestReject):
                rejects.append(outcome)
                # A refusal is final and its row is the record; not so our own failure, which a fix may cure.
                key = None if outcome.reason == INTERNAL_ERROR else reject_delivery_key(message, root=self._root)
                if key is not None:
                    durable.append(key)
            elif isinstance(outcome, StoredReading):
                readings.append(outcome)
                durable.append(DeliveryKey(site_id=outcome.site_id, device_id=outcome.device_id, seq=outcome.seq))
            else:
                event = records.add(outcome)
                if event is not None:
                    durable.append(DeliveryKey(site_id=event.site_id, device_id=event.device_id, seq=event.seq))
        with connection.transaction():
            inserted = insert_readings(connection, readings=readings) if readings else 0
            written = records.write(connection)
            if rejects:
                insert_rejects(connection, rejects=rejects)
        log_written(written)
        for reject in rejects:
            log.warning("rejected %s (%s): %s", reject.topic, reject.reason, reject.detail)
        with self._stats_lock:
            self.stats.received += len(batch)
            self.stats.stored += inserted
            self.stats.duplicates += len(readings) - inserted + written.events_duplicated
            self.stats.events += written.events_inserted
            self.stats.statuses += written.statuses
            self.stats.outbox_samples += written.outbox_samples_inserted
            self.stats.rejected.update(reject.reason for reject in rejects)
            self.stats.batches += 1
        return durable

    def _confirm(self, durable: list[DeliveryKey]) -> None:
        """Tell each site's agent which envelopes are durable; QoS 1, not awaited: a lost one costs a re-send."""
        by_site: dict[str, dict[str, list[int]]] = {}
        for key in durable:
            by_site.setdefault(key.site_id, {}).setdefault(key.device_id, []).append(key.seq)
        for site_id, seqs in by_site.items():
            try:
                self._link.publish(confirmation_topic(site_id, root=self._root), encode_confirmation(seqs), qos=1)
            except MqttLinkError as exc:
                log.warning("confirmation to %s not sent (%s); its agent will send those envelopes again", site_id, exc)
        with self._stats_lock:
            self.stats.confirmed += len(durable)
