"""The report's one way into the database: a read-only, repeatable-read snapshot (a month's figures all describe the
same moment, however long the run, while readings keep arriving), each query's rows as a DataFrame, and psycopg's
errors translated to ReportDatabaseError at this boundary."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import psycopg
from psycopg.rows import tuple_row

from dashboards.reports.errors import ReportDatabaseError


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class ReportDatabase:
    """Runs the report's queries on one connection inside one read-only snapshot."""

    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._connection = connection

    def frame(self, what: str, statement: str, params: Mapping[str, object] | None = None) -> pd.DataFrame:
        """The rows of ``statement`` with its column names (no rows: the columns, empty); ``what`` names the
        query in an error."""
        try:
            with self._connection.cursor(row_factory=tuple_row) as cursor:
                cursor.execute(statement, params)
                columns = [column.name for column in cursor.description or ()]
                rows = cursor.fetchall()
        except psycopg.Error as exc:
            raise ReportDatabaseError(f"database: cannot read {what}: {_one_line(exc)}") from exc
        return pd.DataFrame(rows, columns=columns)


@contextmanager
def open_report_database(conninfo: str) -> Iterator[ReportDatabase]:
    """A ReportDatabase on ``conninfo`` (libpq conninfo or URL), closed on leaving."""
    try:
        connection = psycopg.connect(conninfo, row_factory=tuple_row)
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
    except psycopg.Error as exc:
        raise ReportDatabaseError(f"database: cannot connect: {_one_line(exc)}") from exc
    try:
        yield ReportDatabase(connection)
    finally:
        connection.close()  # nothing was written: closing rolls the snapshot back
