"""The database layer's exceptions; psycopg's own never leave ``server.db``.

DatabaseError                 a statement or connection failed; roll the transaction back
├── TransientDatabaseError    connection lost, server shutting down, deadlock, serialization failure:
│                             the same work may succeed if retried on a fresh transaction
└── MigrationError            a migration file is misnamed or its SQL failed; names the file
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


class DatabaseError(Exception):
    """A database operation failed; the caller's transaction is lost and must be rolled back."""


class TransientDatabaseError(DatabaseError):
    """A failure worth retrying later: psycopg's OperationalError family (SQLSTATE classes 08, 40, 53, 57)."""


class MigrationError(DatabaseError):
    """A migration could not be loaded or applied; ``source`` names the file (``0001_occupancy.sql``)."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@contextmanager
def translated_errors(action: str) -> Iterator[None]:
    """Re-raise psycopg errors from the block as ours, keeping the original as ``__cause__``."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise TransientDatabaseError(f"{action}: {exc}") from exc
    except psycopg.Error as exc:
        raise DatabaseError(f"{action}: {exc}") from exc
