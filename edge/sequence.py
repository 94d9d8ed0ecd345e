"""Per-device sequence numbers that survive restarts, in a small SQLite file in the agent's state directory.

The server deduplicates on ``(device_id, seq, ts)``. A vendor message redelivered by the site broker (the agent died
after forwarding it but before acknowledging it) must get the *same* sequence number again, or it would be stored
twice; so the store remembers a digest of each recent vendor payload and hands back its number.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

# Digests kept per device; a redelivery arrives within seconds, so a few hundred reports is ample.
DIGESTS_KEPT_PER_DEVICE = 512


class SequenceStore:
    """Allocates ``seq`` per device, durably (SQLite in WAL mode with synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: paho calls back on its network thread; the agent serialises calls with a lock.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS device_seq (device_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS payload_seq (device_id TEXT NOT NULL, digest BLOB NOT NULL,"
            " seq INTEGER NOT NULL, PRIMARY KEY (device_id, digest))"
        )

    def seq_for(self, device_id: str, payload: bytes) -> int:
        """The sequence number for this payload: the one it had before, or the device's next."""
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT seq FROM payload_seq WHERE device_id = ? AND digest = ?", (device_id, digest)
            ).fetchone()
            if row is not None:
                return int(row[0])
            self._db.execute(
                "INSERT INTO device_seq (device_id, last_seq) VALUES (?, 0)"
                " ON CONFLICT (device_id) DO UPDATE SET last_seq = last_seq + 1",
                (device_id,),
            )
            (seq,) = self._db.execute("SELECT last_seq FROM device_seq WHERE device_id = ?", (device_id,)).fetchone()
            self._db.execute(
                "INSERT INTO payload_seq (device_id, digest, seq) VALUES (?, ?, ?)", (device_id, digest, seq)
            )
            self._db.execute(
                "DELETE FROM payload_seq WHERE device_id = ? AND seq <= ?",
                (device_id, int(seq) - DIGESTS_KEPT_PER_DEVICE),
            )
            return int(seq)

    def close(self) -> None:
        self._db.close()
