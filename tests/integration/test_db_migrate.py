"""The migration runner against the machine's real PostgreSQL (plain, without TimescaleDB)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from server.db.errors import MigrationError, TransientDatabaseError
from server.db.migrate import (
    MigrationReport,
    apply_migrations,
    database_mode,
    ensure_database,
    load_migrations,
    shipped_migrations,
)

PLAIN_VERSIONS = tuple(step.version for step in shipped_migrations()[0])


def recorded_versions(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migration ORDER BY version")]


def relation_kind(dsn: str, name: str) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (name,)).fetchone()
    return None if row is None else str(row[0])


def test_empty_database_gets_every_plain_migration_in_postgresql_mode(pg_dsn: str) -> None:
    report = apply_migrations(pg_dsn)

    assert PLAIN_VERSIONS[:2] == ("0001_occupancy", "0002_ingest_reject")
    assert report == MigrationReport(applied=PLAIN_VERSIONS, already=(), timescale=False)
    assert recorded_versions(pg_dsn) == sorted(PLAIN_VERSIONS)
    assert relation_kind(pg_dsn, "occupancy_reading") == "r"
    assert relation_kind(pg_dsn, "ingest_reject") == "r"
    assert relation_kind(pg_dsn, "occupancy_15m") == "v"  # the plain view standing in for the aggregate
    with psycopg.connect(pg_dsn) as conn:
        assert database_mode(conn) == "postgresql"


def test_timescale_layer_is_skipped_and_not_recorded_on_plain_postgresql(pg_dsn: str) -> None:
    report = apply_migrations(pg_dsn)

    assert not any(version.startswith("timescale/") for version in report.applied + report.already)
    assert not any(version.startswith("timescale/") for version in recorded_versions(pg_dsn))
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == (0,)


def test_second_run_applies_nothing(pg_dsn: str) -> None:
    apply_migrations(pg_dsn)

    again = apply_migrations(pg_dsn)

    assert again == MigrationReport(applied=(), already=PLAIN_VERSIONS, timescale=False)
    assert recorded_versions(pg_dsn) == sorted(PLAIN_VERSIONS)


def test_concurrent_runners_apply_each_migration_exactly_once(pg_dsn: str) -> None:
    runners = 4
    start_together = threading.Barrier(runners)

    def run() -> MigrationReport:
        start_together.wait(timeout=30)
        return apply_migrations(pg_dsn)

    with ThreadPoolExecutor(max_workers=runners) as pool:
        reports = [future.result(timeout=120) for future in [pool.submit(run) for _ in range(runners)]]

    applied_everywhere = [version for report in reports for version in report.applied]
    assert sorted(applied_everywhere) == sorted(PLAIN_VERSIONS)
    for report in reports:
        assert sorted(report.applied + report.already) == sorted(PLAIN_VERSIONS)
    assert recorded_versions(pg_dsn) == sorted(PLAIN_VERSIONS)


def test_failing_migration_names_its_file_and_leaves_nothing_half_applied(pg_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id integer);\n")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half_table (id integer);\nSELECT no_such_function();\n")

    with pytest.raises(MigrationError, match=r"0002_broken\.sql") as caught:
        apply_migrations(pg_dsn, folder=tmp_path)

    assert caught.value.source == "0002_broken.sql"
    assert isinstance(caught.value.__cause__, psycopg.errors.UndefinedFunction)
    assert recorded_versions(pg_dsn) == ["0001_first"]
    assert relation_kind(pg_dsn, "first_table") == "r"
    assert relation_kind(pg_dsn, "half_table") is None


def test_fixed_migration_is_applied_by_the_next_run(pg_dsn: str, tmp_path: Path) -> None:
    broken = tmp_path / "0001_table.sql"
    broken.write_text("CREATE TABLE t (id integer, oops);\n")
    with pytest.raises(MigrationError):
        apply_migrations(pg_dsn, folder=tmp_path)

    broken.write_text("CREATE TABLE t (id integer);\n")
    report = apply_migrations(pg_dsn, folder=tmp_path)

    assert report.applied == ("0001_table",)


def test_no_transaction_migration_runs_outside_a_transaction_block(pg_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_table.sql").write_text("CREATE TABLE t (id integer);\n")
    # CREATE INDEX CONCURRENTLY refuses to run inside a transaction block.
    (tmp_path / "0002_index.sql").write_text(
        "-- migrate: no-transaction\n-- Built without blocking writers.\n"
        "CREATE INDEX CONCURRENTLY t_id_idx ON t (id);\n"
    )

    report = apply_migrations(pg_dsn, folder=tmp_path)

    assert report.applied == ("0001_table", "0002_index")
    assert relation_kind(pg_dsn, "t_id_idx") == "i"


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_misnamed_migration_file_is_refused_by_name(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;\n")

    with pytest.raises(MigrationError, match=name.replace(".", r"\.")):
        load_migrations(tmp_path)


def test_two_migrations_with_one_number_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;\n")

    with pytest.raises(MigrationError, match=r"0001_b\.sql: number 0001 is also used by 0001_a\.sql"):
        load_migrations(tmp_path)


def test_unknown_directive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("-- migrate: no-transactoin\nSELECT 1;\n")

    with pytest.raises(MigrationError, match="unknown directive"):
        load_migrations(tmp_path)


def test_files_that_are_not_sql_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "README.md").write_text("notes")
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")

    assert [step.version for step in load_migrations(tmp_path)] == ["0001_a"]


def test_unreachable_server_is_a_transient_error() -> None:
    with pytest.raises(TransientDatabaseError):
        apply_migrations("host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2")


def test_ensure_database_creates_a_missing_database_once(pg_dsn: str) -> None:
    name = f"sc_test_ensure_{uuid.uuid4().hex[:12]}"
    try:
        assert ensure_database(pg_dsn, name) is True
        assert ensure_database(pg_dsn, name) is False
        with psycopg.connect(pg_dsn) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() == (1,)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
