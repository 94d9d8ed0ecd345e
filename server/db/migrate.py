"""Bring a database's schema up to date: numbered SQL files, then the TimescaleDB layer where it is available.

Migrations are ``server/db/migrations/NNNN_name.sql``, applied in order, each in its own transaction and
recorded in ``schema_migration``; a version already recorded is never run again. The files in
``migrations/timescale/`` follow, recorded as ``timescale/NNNN_name``, only when the ``timescaledb`` extension is
installed or available to install. A file may start with directive comments:

    -- migrate: requires-timescale-license   (timescale/ only) skipped unless timescaledb.license = 'timescale':
                                             compression, continuous aggregates and policies are not in the
                                             Apache-2 build; a skipped step stays pending for a later run
    -- migrate: no-transaction                run in autocommit (for statements that refuse a transaction
                                             block); the file must then hold a single statement that is
                                             safe to run twice (it is recorded in a second step)

Runners serialise on a session advisory lock, so any number may start at once (several server replicas).
New plain migrations run on top of the timescale layer in databases that have it: write them for both worlds.
A run that applied something ends by calling ``grant_grafana_reader()`` (0008_grafana_reader.sql) where it exists,
so that Grafana's read-only role can read the relations the run added.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Literal

import psycopg
from psycopg import sql

from server.db.errors import MigrationError, translated_errors

log = logging.getLogger(__name__)

DatabaseMode = Literal["timescaledb", "postgresql"]

TIMESCALE_FOLDER = "timescale"
# Arbitrary, fixed key of the advisory lock that serialises migration runners across the whole cluster.
MIGRATION_LOCK_KEY = 710_2024_0001
# The value of timescaledb.license in builds that include the community-licensed features.
COMMUNITY_LICENSE = "timescale"
# Run after every run that applied something: grants the Grafana role SELECT on new relations (0008_grafana_reader).
READER_GRANTS_FUNCTION = "grant_grafana_reader"

_FILE_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
_DIRECTIVE = re.compile(r"^--\s*migrate:\s*(\S.*?)\s*$")
_NO_TRANSACTION = "no-transaction"
_NEEDS_LICENSE = "requires-timescale-license"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migration (
    version    text        PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str  # "0001_occupancy" or "timescale/0001_hypertable"
    sql: str
    in_transaction: bool
    needs_timescale_license: bool


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied: tuple[str, ...]  # versions this run applied, in order
    already: tuple[str, ...]  # versions found recorded by earlier runs
    timescale: bool  # whether the database now runs the TimescaleDB layer


def load_migrations(folder: Traversable, *, prefix: str = "") -> tuple[Migration, ...]:
    """The ``NNNN_name.sql`` files of a folder in version order; other files and folders are ignored."""
    entries = sorted(
        (entry for entry in folder.iterdir() if entry.is_file() and entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    migrations: list[Migration] = []
    seen_numbers: dict[str, str] = {}
    for entry in entries:
        source = prefix + entry.name
        if not _FILE_NAME.match(entry.name):
            raise MigrationError(source, "name must be NNNN_lowercase_words.sql")
        number = entry.name[:4]
        if number in seen_numbers:
            raise MigrationError(source, f"number {number} is also used by {seen_numbers[number]}")
        seen_numbers[number] = source
        text = entry.read_text(encoding="utf-8")
        directives = _directives(text)
        unknown = directives - {_NO_TRANSACTION, _NEEDS_LICENSE}
        if unknown:
            raise MigrationError(source, f"unknown directive(s) {sorted(unknown)}")
        if _NEEDS_LICENSE in directives and prefix != f"{TIMESCALE_FOLDER}/":
            raise MigrationError(source, f"{_NEEDS_LICENSE} only applies to files in {TIMESCALE_FOLDER}/")
        migrations.append(
            Migration(
                version=prefix + entry.name.removesuffix(".sql"),
                sql=text,
                in_transaction=_NO_TRANSACTION not in directives,
                needs_timescale_license=_NEEDS_LICENSE in directives,
            )
        )
    return tuple(migrations)


def _directives(text: str) -> frozenset[str]:
    """Directives of the leading comment block (before the first line of SQL)."""
    found: set[str] = set()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            break
        match = _DIRECTIVE.match(stripped)
        if match:
            found.add(match.group(1))
    return frozenset(found)


def shipped_migrations() -> tuple[tuple[Migration, ...], tuple[Migration, ...]]:
    """The plain migrations and the timescale layer that ship in ``server/db/migrations``."""
    return _migrations_in(files("server.db.migrations"))


def _migrations_in(folder: Traversable) -> tuple[tuple[Migration, ...], tuple[Migration, ...]]:
    timescale_folder = folder.joinpath(TIMESCALE_FOLDER)
    timescale = load_migrations(timescale_folder, prefix=f"{TIMESCALE_FOLDER}/") if timescale_folder.is_dir() else ()
    return load_migrations(folder), timescale


def timescale_step_applies(step: Migration, *, extension_available: bool, timescale_license: str | None) -> bool:
    """Whether a step of the timescale layer should run, given what the server offers."""
    if not extension_available:
        return False
    return not step.needs_timescale_license or timescale_license == COMMUNITY_LICENSE


def apply_migrations(conninfo: str, *, folder: Traversable | None = None) -> MigrationReport:
    """Apply every pending migration (``folder`` defaults to the shipped ``server/db/migrations``)."""
    plain, timescale = shipped_migrations() if folder is None else _migrations_in(folder)
    applied: list[str] = []
    already: list[str] = []
    with translated_errors("apply migrations"), psycopg.connect(conninfo, autocommit=True) as conn:
        # A session lock, held across the per-migration transactions; closing the connection releases it.
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(_CREATE_LEDGER)
        recorded = {row[0] for row in conn.execute("SELECT version FROM schema_migration").fetchall()}
        for step in plain:
            if step.version in recorded:
                already.append(step.version)
            else:
                _apply(conn, step)
                applied.append(step.version)
        available = _timescale_available(conn)
        if not available:
            log.info("timescaledb is not available: timescale layer skipped, rollups are plain views")
        for step in timescale:
            if step.version in recorded:
                already.append(step.version)
                continue
            license_name = _timescale_license(conn) if available and step.needs_timescale_license else None
            if timescale_step_applies(step, extension_available=available, timescale_license=license_name):
                _apply(conn, step)
                applied.append(step.version)
            elif available:
                log.warning(
                    "%s skipped: timescaledb.license is %r, not %r", step.version, license_name, COMMUNITY_LICENSE
                )
        if applied:
            _refresh_reader_grants(conn)
        mode = database_mode(conn)
    log.info("database mode: %s; applied %d migration(s), %d already applied", mode, len(applied), len(already))
    return MigrationReport(applied=tuple(applied), already=tuple(already), timescale=mode == "timescaledb")


def _apply(conn: psycopg.Connection[Any], step: Migration) -> None:
    record = "INSERT INTO schema_migration (version) VALUES (%s)"
    # The SQL is passed as bytes: without parameters psycopg sends it with the simple query protocol, which runs
    # a file of several statements, and does not read % signs in it as placeholders.
    try:
        if step.in_transaction:
            with conn.transaction():
                conn.execute(step.sql.encode())
                conn.execute(record, (step.version,))
        else:
            conn.execute(step.sql.encode())
            conn.execute(record, (step.version,))
    except psycopg.Error as exc:
        raise MigrationError(f"{step.version}.sql", str(exc).strip()) from exc
    log.info("applied migration %s", step.version)


def _refresh_reader_grants(conn: psycopg.Connection[Any]) -> None:
    """Let grafana_reader read what this run added (0008_grafana_reader.sql defines the function; the timescale
    layer's continuous aggregate comes after it); databases migrated from other folders may not have it."""
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_proc WHERE proname = %s AND pronamespace = 'public'::regnamespace)",
        (READER_GRANTS_FUNCTION,),
    ).fetchone()
    if not (row and row[0]):
        return
    try:
        conn.execute(sql.SQL("SELECT public.{}()").format(sql.Identifier(READER_GRANTS_FUNCTION)))
    except psycopg.Error as exc:
        raise MigrationError(f"{READER_GRANTS_FUNCTION}()", str(exc).strip()) from exc


def _timescale_available(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
        " OR EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
    ).fetchone()
    return bool(row and row[0])


def _timescale_license(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return None if row is None or row[0] is None else str(row[0])


def database_mode(conn: psycopg.Connection[Any]) -> DatabaseMode:
    """``timescaledb`` when the extension is installed in this database, else ``postgresql``."""
    with translated_errors("read database mode"):
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')").fetchone()
    return "timescaledb" if row and row[0] else "postgresql"


def ensure_database(admin_conninfo: str, name: str) -> bool:
    """Create database ``name`` unless it exists; True when this call created it."""
    with translated_errors(f"ensure database {name}"), psycopg.connect(admin_conninfo, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            return False  # another process created it between the check and the CREATE
    return True
