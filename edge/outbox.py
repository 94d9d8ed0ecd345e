"""The agent's durable outbox: every envelope waits on disk until the server confirms it was written.

One SQLite file per site in the agent's state directory, in WAL mode with ``synchronous=FULL``: when
:meth:`Outbox.submit` returns, the envelope and its sequence number are on disk and survive a power cut. Rows are
deleted only by :meth:`Outbox.delete_confirmed`, on the server's confirmation (``devices.confirmations``), never on
the broker's PUBACK: a broker that acknowledged and then lost a message (a crash between autosaves) would otherwise
lose it for good.

Sequence numbers count from 0 per device, in submit order, without gaps; the server stores ``(device_id, seq)``
once however often it is sent. A vendor message the site broker delivers *again* (MQTT DUP flag: the agent died
after submitting it but before acknowledging it) must get its old number back, or it would be stored twice: so the
digest of each vendor payload is remembered with its number, and looked up only for such redeliveries. Two
identical first deliveries (a sensor repeating itself within its one-second clock) are two readings.

Bounded at ``max_rows``: when full, the oldest telemetry rows are deleted to make room and counted in
``dropped_telemetry`` (persisted); critical rows (door events, command results) are never deleted: with only
those left the outbox grows past its bound, and says so in the log once.

The tables ``device_seq`` and ``payload_seq`` are those of the former ``SequenceStore`` file, unchanged, so an old
sequence file opens as an outbox (:func:`open_site_outbox` adopts it) and its devices keep counting.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from devices.confirmations import SeqRange
from devices.envelope import Envelope, encode_envelope
from devices.timestamps import utc_now
from devices.topics import TOPIC_ROOT, agent_status_topic, device_topic
from edge.sink import Outgoing

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_MAX_ROWS = 200_000
# Vendor payload digests kept per device: a redelivery comes within seconds of the first delivery (it is what the
# site broker still had in flight for the agent), so a few hundred reports is ample.
DIGESTS_KEPT_PER_DEVICE = 512
# Forgetting old digests costs a scan of the device's digests, so it runs every this many numbers.
DIGEST_PRUNE_EVERY = 64

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS device_seq (device_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS payload_seq (device_id TEXT NOT NULL, digest BLOB NOT NULL,"
    " seq INTEGER NOT NULL, PRIMARY KEY (device_id, digest))",
    # AUTOINCREMENT: ids never come back after the newest row is deleted, so "after id N" stays a safe cursor.
    # queued_at is Unix seconds (UTC) when submitted.
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL,"
    " critical INTEGER NOT NULL CHECK (critical IN (0, 1)), queued_at REAL NOT NULL, UNIQUE (device_id, seq))",
    "CREATE INDEX IF NOT EXISTS outbox_telemetry ON outbox (id) WHERE critical = 0",
    "CREATE TABLE IF NOT EXISTS outbox_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
_DROPPED = "dropped_telemetry"


class OutboxError(Exception):
    """The outbox file could not be read or written (disk full, file damaged, permissions)."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One envelope waiting for the server's confirmation; ``id`` orders rows as they were submitted."""

    id: int
    device_id: str
    seq: int
    topic: str
    payload: bytes
    critical: bool


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int  # rows waiting for confirmation
    oldest_age_s: float | None  # seconds since the oldest waiting row was submitted; None when empty
    dropped_telemetry: int  # telemetry rows deleted unsent because the outbox was full, ever
    max_rows: int


class Outbox:
    """Implements :class:`edge.sink.EnvelopeSink`; safe to use from several threads (one lock, one connection)."""

    def __init__(
        self,
        path: Path,
        *,
        site_id: str,
        topic_root: str = TOPIC_ROOT,
        max_rows: int = DEFAULT_MAX_ROWS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        agent_status_topic(site_id, root=topic_root)  # ValueError for an unusable site id or root
        self.path = path
        self.site_id = site_id
        self.topic_root = topic_root
        self.max_rows = max_rows
        self._clock = clock
        self._lock = threading.Lock()
        self._over_bound_logged = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: paho's threads and the flusher share it, serialised by self._lock.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._depth = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
            self._last_id = int(self._db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open the outbox {path}: {exc}") from exc

    @property
    def last_id(self) -> int:
        """The id of the newest row (0 when none has been there since opening): a flusher polls it for new work."""
        return self._last_id

    def submit(self, item: Outgoing, *, vendor_payload: bytes | None = None, redelivered: bool = False) -> int:
        """Store ``item`` with the device's next sequence number, durably, and return the number.

        ``vendor_payload`` is the device's own message the item was made from, remembered for redeliveries; with
        ``redelivered`` (the MQTT DUP flag) a payload seen before gets its old number back and nothing is stored
        again. ValueError for an item that cannot be encoded; OutboxError when the disk refuses.
        """
        digest = None if vendor_payload is None else _digest(vendor_payload)
        with self._lock:
            with self._transaction():
                if digest is not None and redelivered:
                    known = self._known_seq(item.device_id, digest)
                    if known is not None:
                        return known
                seq, row_id, dropped = self._insert(item, digest)
            # Committed: only now does the in-memory picture follow.
            self._depth += 1 - dropped
            self._last_id = row_id
        return seq

    def submit_all(
        self,
        items: Sequence[Outgoing],
        *,
        also: Callable[[sqlite3.Connection], None],
        vendor_payload: bytes | None = None,
    ) -> list[int]:
        """Store every item and run ``also`` on the outbox's connection in ONE transaction: all or nothing.

        The site queue keeps its state in this file (``edge.queue.store``), so that a ticket number is never saved
        without the events that announce it, nor announced without being saved. ``also`` must not commit.
        ``vendor_payload`` is remembered for the first item, as :meth:`submit` does (see
        :meth:`is_known_redelivery`).
        """
        digest = None if vendor_payload is None else _digest(vendor_payload)
        with self._lock:
            with self._transaction():
                also(self._db)
                written = [self._insert(item, digest if index == 0 else None) for index, item in enumerate(items)]
            for _seq, row_id, dropped in written:
                self._depth += 1 - dropped
                self._last_id = row_id
        return [seq for seq, _row_id, _dropped in written]

    def read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work`` on the outbox's connection, serialised with every write (for the site queue's state)."""
        with self._lock, self._reading():
            return work(self._db)

    def is_known_redelivery(self, device_id: str, vendor_payload: bytes) -> bool:
        """True when this payload of the device was taken before (its DUP redelivery must not act twice)."""
        with self._lock, self._reading():
            return self._known_seq(device_id, _digest(vendor_payload)) is not None

    def _known_seq(self, device_id: str, digest: bytes) -> int | None:
        row = self._db.execute(
            "SELECT seq FROM payload_seq WHERE device_id = ? AND digest = ?", (device_id, digest)
        ).fetchone()
        return None if row is None else int(row[0])

    def _insert(self, item: Outgoing, digest: bytes | None) -> tuple[int, int, int]:
        """Inside a transaction: number, encode and insert one item; (seq, row id, telemetry rows dropped)."""
        topic = device_topic(self.site_id, item.device_id, item.channel, item.name, root=self.topic_root)
        seq = self._next_seq(item.device_id)
        # Built here because seq is part of the envelope; a ValueError rolls the number back.
        payload = encode_envelope(Envelope(item.schema, item.device_id, item.observed_at, seq, item.data))
        dropped = self._make_room()
        cursor = self._db.execute(
            "INSERT INTO outbox (device_id, seq, topic, payload, critical, queued_at) VALUES (?, ?, ?, ?, ?, ?)",
            (item.device_id, seq, topic, payload, int(item.critical), self._clock().timestamp()),
        )
        if digest is not None:
            self._remember_digest(item.device_id, digest, seq)
        return seq, int(cursor.lastrowid or 0), dropped

    def pending(self, *, after_id: int, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` waiting rows with ids above ``after_id``, oldest first."""
        with self._lock, self._reading():
            rows = self._db.execute(
                "SELECT id, device_id, seq, topic, payload, critical FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [OutboxRow(int(i), str(d), int(s), str(t), bytes(p), bool(c)) for i, d, s, t, p, c in rows]

    def delete_confirmed(self, confirmed: Mapping[str, Sequence[SeqRange]]) -> int:
        """Forget every row the server confirmed (inclusive seq ranges per device); returns how many were here."""
        deleted = 0
        with self._lock:
            with self._transaction():
                for device_id, ranges in confirmed.items():
                    for first, last in ranges:
                        cursor = self._db.execute(
                            "DELETE FROM outbox WHERE device_id = ? AND seq BETWEEN ? AND ?", (device_id, first, last)
                        )
                        deleted += cursor.rowcount
            self._depth -= deleted
            if self._depth < self.max_rows:
                self._over_bound_logged = False
        return deleted

    def stats(self) -> OutboxStats:
        with self._lock, self._reading():
            oldest = self._db.execute("SELECT queued_at FROM outbox ORDER BY id LIMIT 1").fetchone()
            dropped = self._db.execute("SELECT value FROM outbox_counter WHERE name = ?", (_DROPPED,)).fetchone()
        age = None if oldest is None else max(0.0, self._clock().timestamp() - float(oldest[0]))
        return OutboxStats(
            depth=self._depth,
            oldest_age_s=age,
            dropped_telemetry=0 if dropped is None else int(dropped[0]),
            max_rows=self.max_rows,
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _next_seq(self, device_id: str) -> int:
        self._db.execute(
            "INSERT INTO device_seq (device_id, last_seq) VALUES (?, 0)"
            " ON CONFLICT (device_id) DO UPDATE SET last_seq = last_seq + 1",
            (device_id,),
        )
        (seq,) = self._db.execute("SELECT last_seq FROM device_seq WHERE device_id = ?", (device_id,)).fetchone()
        return int(seq)

    def _make_room(self) -> int:
        """Delete the oldest telemetry rows so that one more fits; returns how many went."""
        excess = self._depth - self.max_rows + 1
        if excess <= 0:
            return 0
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE critical = 0 ORDER BY id LIMIT ?)", (excess,)
        )
        dropped = cursor.rowcount
        if dropped:
            self._db.execute(
                "INSERT INTO outbox_counter (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (_DROPPED, dropped),
            )
            log.warning("outbox full (%d rows): dropped the %d oldest telemetry row(s)", self.max_rows, dropped)
        if dropped < excess and not self._over_bound_logged:
            self._over_bound_logged = True
            log.error("outbox holds %d rows, all critical: growing past its bound of %d", self._depth, self.max_rows)
        return dropped

    def _remember_digest(self, device_id: str, digest: bytes, seq: int) -> None:
        # REPLACE: a payload repeated on purpose points at its newest number, the one a redelivery would be of.
        self._db.execute(
            "INSERT OR REPLACE INTO payload_seq (device_id, digest, seq) VALUES (?, ?, ?)", (device_id, digest, seq)
        )
        if seq % DIGEST_PRUNE_EVERY == 0:
            self._db.execute(
                "DELETE FROM payload_seq WHERE device_id = ? AND seq <= ?", (device_id, seq - DIGESTS_KEPT_PER_DEVICE)
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, taken at once (IMMEDIATE) so that it never fails half way for want of a lock."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: {exc}") from exc

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: {exc}") from exc


def _digest(vendor_payload: bytes) -> bytes:
    return hashlib.blake2b(vendor_payload, digest_size=16).digest()


def open_site_outbox(state_dir: Path, site_id: str, *, topic_root: str, max_rows: int) -> Outbox:
    """The site's outbox in ``state_dir``, adopting the site's sequence file of earlier versions if that is there."""
    path = state_dir / f"{site_id}-outbox.sqlite3"
    legacy = state_dir / f"{site_id}-sequences.sqlite3"
    if legacy.exists() and not path.exists():
        # The write-ahead log holds committed numbers not yet in the main file: it moves along. The shared-memory
        # index is rebuilt from it on open. Safe here because no other process has these files open.
        for suffix in ("-wal", ""):
            old = legacy.with_name(legacy.name + suffix)
            if old.exists():
                old.rename(path.with_name(path.name + suffix))
        legacy.with_name(legacy.name + "-shm").unlink(missing_ok=True)
        log.info("adopted the sequence file %s as the outbox %s", legacy, path)
    return Outbox(path, site_id=site_id, topic_root=topic_root, max_rows=max_rows)
