"""PostgreSQL storage (TimescaleDB when the extension is there): migrations and repository functions.

- ``migrate``: numbered SQL migrations, the optional TimescaleDB layer, ``database_mode``, ``ensure_database``.
- ``readings``: occupancy readings (idempotent batched insert, latest per space, history buckets).
- ``rejects``: ingest messages that could not be stored, kept for investigation.
- ``errors``: the exception tree; psycopg errors are translated at this package's boundary.

Repository functions take a ``psycopg.Connection`` and never commit: the caller owns the transaction.
"""

from server.db.errors import DatabaseError, MigrationError, TransientDatabaseError

__all__ = ["DatabaseError", "MigrationError", "TransientDatabaseError"]
