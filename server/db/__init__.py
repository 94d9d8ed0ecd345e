"""PostgreSQL storage (TimescaleDB when the extension is there): migrations and repository functions.

- ``migrate``: numbered SQL migrations, the optional TimescaleDB layer, ``database_mode``, ``ensure_database``.
- ``readings``: occupancy readings (idempotent batched insert, latest per space, history buckets).
- ``rejects``: ingest messages that could not be stored, kept for investigation.
- ``events``: every other envelope kind (access, door, ticket requests, terminal keys, command results).
- ``device_health``: each device's newest status as its edge agent reported it, and the history of its changes.
- ``commands``: commands issued to devices and the answers recorded on them.
- ``errors``: the exception tree; psycopg errors are translated at this package's boundary.

Repository functions take a ``psycopg.Connection`` and never commit: the caller owns the transaction.
"""

from server.db.errors import DatabaseError, MigrationError, TransientDatabaseError

__all__ = ["DatabaseError", "MigrationError", "TransientDatabaseError"]
