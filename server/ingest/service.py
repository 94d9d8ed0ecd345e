"""The ingest: edge envelopes from the broker into PostgreSQL, in batches, acknowledged only after COMMIT.

paho's network thread puts each message on a queue; one writer thread takes everything waiting (up to
``batch_max``), classifies it, writes readings and rejects in one transaction, commits, and only then acknowledges
the messages to the broker. A crash before the commit leaves them unacknowledged in the server's persistent session,
so the broker delivers them again, and the ``(device_id, seq, ts)`` key stores them once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from devices.broker import BrokerAddress
from devices.mqtt_link import InboundMessage, MqttLink
from devices.site import Belt
from devices.topics import event_subscription
from server.db.errors import DatabaseError
from server.db.readings import StoredReading, insert_readings
from server.db.rejects import IngestReject, insert_rejects
from server.ingest.classify import classify_message, unclassifiable

log = logging.getLogger(__name__)

# How long the writer waits for more messages once it has one, so a burst lands in one transaction (seconds).
BATCH_LINGER_S = 0.02
# Backoff between attempts to reach the database after a failure (seconds): 0.5 doubling to 10.
DB_RETRY_MIN_S = 0.5
DB_RETRY_MAX_S = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    database_ok: bool = True

    def snapshot(self) -> dict[str, object]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": dict(self.rejected),
            "batches": self.batches,
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
            connection = self._write_until_committed(batch, connection)
            if connection is None:  # stopping before the batch could be written: the broker keeps it
                return
            for message in batch:
                self._link.ack(message.mid, message.qos)
        if connection is not None:
            connection.close()

    def _write_until_committed(
        self, batch: list[InboundMessage], connection: psycopg.Connection | None
    ) -> psycopg.Connection | None:
        delay = DB_RETRY_MIN_S
        while not self._stopping.is_set():
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(self._conninfo, connect_timeout=5)
                self._write_batch(connection, batch)
                if not self.stats.database_ok:
                    log.warning("database reachable again; ingest resumed")
                    self.stats.database_ok = True
                return connection
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

    def _write_batch(self, connection: psycopg.Connection, batch: list[InboundMessage]) -> None:
        now = self._clock()
        readings: list[StoredReading] = []
        rejects: list[IngestReject] = []
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
            else:
                readings.append(outcome)
        with connection.transaction():
            inserted = insert_readings(connection, readings=readings) if readings else 0
            if rejects:
                insert_rejects(connection, rejects=rejects)
        for reject in rejects:
            log.warning("rejected %s (%s): %s", reject.topic, reject.reason, reject.detail)
        with self._stats_lock:
            self.stats.received += len(batch)
            self.stats.stored += inserted
            self.stats.duplicates += len(readings) - inserted
            self.stats.rejected.update(reject.reason for reject in rejects)
            self.stats.batches += 1
