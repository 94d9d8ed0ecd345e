"""grafana_reader, Grafana's read-only role (migration 0008 and ``smartcomplex db reader-password``), against the
machine's real PostgreSQL.

Queries as the role are real logins over TCP after ``db reader-password``. This machine's pg_hba trusts 127.0.0.1,
so the login does not check the password: the SCRAM verifier the command stored is checked against it instead.
Roles are cluster-wide: these tests share grafana_reader with every database of the cluster and only ever give it
LOGIN, as the command does in production; the race test uses a role of its own and drops it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib.resources import as_file, files
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from server.cli import main
from server.db.migrate import MigrationReport, apply_migrations
from tests.conftest import PG_ADMIN_DSN

READER = "grafana_reader"
PASSWORD = "correct-horse-battery-staple-710"
DASHBOARD_RELATIONS = [
    "occupancy_reading",
    "occupancy_15m",
    "queue_ticket",
    "booking",
    "device_status",
    "ingest_reject",
]
SECRET_TABLES = ["account", "api_token", "notice", "schema_migration"]
WAIT_S = 20.0


@pytest.fixture
def migrated_dsn(pg_dsn: str) -> str:
    apply_migrations(pg_dsn)
    return pg_dsn


@pytest.fixture
def reader_dsn(migrated_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A conninfo that logs in to the migrated database as grafana_reader, after `db reader-password`."""
    monkeypatch.setenv("SC_GRAFANA_DB_PASSWORD", PASSWORD)
    assert main(["db", "reader-password", "--database-url", migrated_dsn]) == 0
    return psycopg.conninfo.make_conninfo(migrated_dsn, user=READER, password=PASSWORD)


@pytest.fixture
def spare_databases() -> Iterator[list[str]]:
    """Names of databases a test creates itself (created through ``new_database``); dropped afterwards."""
    names: list[str] = []
    yield names
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def new_database(names: list[str]) -> str:
    name = f"sc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    names.append(name)
    return psycopg.conninfo.make_conninfo(PG_ADMIN_DSN, dbname=name)


def scram_verifier_matches(verifier: str, password: str) -> bool:
    """Whether a stored SCRAM-SHA-256 verifier was made from this password (RFC 5802 section 3, RFC 7677)."""
    scheme, iterations_and_salt, keys = verifier.split("$")
    iterations, salt = iterations_and_salt.split(":")
    stored_key, server_key = (base64.b64decode(key) for key in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return (
        scheme == "SCRAM-SHA-256"
        and hashlib.sha256(client_key).digest() == stored_key
        and hmac.digest(salted, b"Server Key", "sha256") == server_key
    )


def test_reader_password_stores_a_scram_verifier_and_allows_login(
    reader_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = capsys.readouterr()
    assert PASSWORD not in output.out + output.err
    with psycopg.connect(PG_ADMIN_DSN) as admin:
        row = admin.execute("SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = %s", (READER,)).fetchone()
    assert row is not None
    can_login, verifier = row
    assert can_login is True
    assert scram_verifier_matches(verifier, PASSWORD)

    with psycopg.connect(reader_dsn) as reader:
        assert reader.execute("SELECT current_user").fetchone() == (READER,)
        assert reader.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert reader.execute("SHOW statement_timeout").fetchone() == ("30s",)


@pytest.mark.parametrize("relation", DASHBOARD_RELATIONS)
def test_reader_selects_what_the_dashboards_read(reader_dsn: str, relation: str) -> None:
    with psycopg.connect(reader_dsn) as reader:
        reader.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(relation))).fetchall()


def test_reader_sees_the_rollup_of_readings(migrated_dsn: str, reader_dsn: str) -> None:
    at = datetime(2026, 11, 27, 2, 5, tzinfo=UTC)
    with psycopg.connect(migrated_dsn) as owner:
        owner.execute(
            "INSERT INTO occupancy_reading (device_id, seq, ts, received_at, site_id, space_id, people, occupied)"
            " VALUES ('sensor-1', 1, %s, %s, 'complex', 'sharing-space', 18, true)",
            (at, at),
        )
    with psycopg.connect(reader_dsn) as reader:
        rows = reader.execute("SELECT site_id, space_id, max_people, readings FROM occupancy_15m").fetchall()
    assert rows == [("complex", "sharing-space", 18, 1)]


@pytest.mark.parametrize("table", SECRET_TABLES)
def test_reader_is_refused_the_secret_tables(reader_dsn: str, table: str) -> None:
    with psycopg.connect(reader_dsn) as reader, pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(table)))


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO ingest_reject (received_at, topic, reason, payload_head, payload_size)"
        " VALUES (now(), 't', 'r', '', 0)",
        "UPDATE booking SET title = 'x'",
        "DELETE FROM queue_ticket",
        "TRUNCATE device_status",
    ],
)
def test_reader_cannot_write_even_with_read_only_switched_off(reader_dsn: str, statement: str) -> None:
    with psycopg.connect(reader_dsn, autocommit=True) as reader:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.execute(statement)
        # Read-only is only the session's default, which the session may change: the privileges are the guarantee.
        reader.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(statement)


def test_relations_of_a_later_migration_run_are_readable(migrated_dsn: str, reader_dsn: str, tmp_path: Path) -> None:
    with as_file(files("server.db.migrations")) as shipped:
        for path in Path(shipped).glob("*.sql"):
            shutil.copy(path, tmp_path / path.name)
    # A new table, a new secret table and a replaced view, as timescale/0002 replaces occupancy_15m after 0008.
    (tmp_path / "0099_later_panels.sql").write_text(
        "CREATE TABLE later_panel (id integer);\n"
        "CREATE TABLE api_token_later (id integer);\n"
        "DROP VIEW occupancy_15m;\n"
        "CREATE VIEW occupancy_15m AS SELECT ts AS bucket, site_id, space_id, people FROM occupancy_reading;\n"
    )

    report = apply_migrations(migrated_dsn, folder=tmp_path)

    assert report.applied == ("0099_later_panels",)
    with psycopg.connect(reader_dsn) as reader:
        assert reader.execute("SELECT count(*) FROM later_panel").fetchone() == (0,)
        assert reader.execute("SELECT count(*) FROM occupancy_15m").fetchone() == (0,)
        assert reader.execute("SELECT count(*) FROM api_token_later").fetchone() == (0,)  # not on the deny list
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("SELECT * FROM account")


def test_a_secret_table_granted_by_hand_is_revoked_by_the_next_run(migrated_dsn: str, reader_dsn: str) -> None:
    with psycopg.connect(migrated_dsn) as owner:
        owner.execute(sql.SQL("GRANT SELECT, INSERT ON account TO {}").format(sql.Identifier(READER)))
        owner.execute("SELECT grant_grafana_reader()")
    with psycopg.connect(reader_dsn) as reader, pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute("SELECT * FROM account")


def test_migrating_two_databases_at_once_succeeds(pg_dsn: str, spare_databases: list[str]) -> None:
    dsns = [pg_dsn, new_database(spare_databases)]
    start_together = threading.Barrier(len(dsns))

    def migrate(dsn: str) -> MigrationReport:
        start_together.wait(timeout=WAIT_S)
        return apply_migrations(dsn)

    with ThreadPoolExecutor(max_workers=len(dsns)) as pool:
        reports = [future.result(timeout=120) for future in [pool.submit(migrate, dsn) for dsn in dsns]]

    for dsn, report in zip(dsns, reports, strict=True):
        assert "0008_grafana_reader" in report.applied
        with psycopg.connect(dsn) as conn:
            granted = conn.execute("SELECT has_table_privilege(%s, 'booking', 'SELECT')", (READER,)).fetchone()
        assert granted == (True,)


def test_creating_the_role_tolerates_losing_the_race_to_another_database(spare_databases: list[str]) -> None:
    """Two databases create one missing role at once: the second waits for the first and carries on."""
    role = f"sc_test_reader_{uuid.uuid4().hex[:8]}"
    first_dsn, second_dsn = new_database(spare_databases), new_database(spare_databases)
    migration = files("server.db.migrations").joinpath("0008_grafana_reader.sql").read_text(encoding="utf-8")
    for dsn in (first_dsn, second_dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(migration.encode())  # defines the function (and grants grafana_reader nothing: no tables)
    try:
        with psycopg.connect(first_dsn) as first, psycopg.connect(second_dsn, autocommit=True) as second:
            second_pid = second.info.backend_pid
            first.execute("SELECT grant_grafana_reader(%s)", (role,))  # creates the role; not committed yet
            with ThreadPoolExecutor(max_workers=1) as pool:
                losing = pool.submit(second.execute, "SELECT grant_grafana_reader(%s)", (role,))
                wait_until_blocked(second_pid)
                first.commit()
                losing.result(timeout=WAIT_S)
        with psycopg.connect(second_dsn) as conn:
            row = conn.execute(
                "SELECT has_database_privilege(%s, current_database(), 'CONNECT'),"
                " has_schema_privilege(%s, 'public', 'USAGE')",
                (role, role),
            ).fetchone()
        assert row == (True, True)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            for name in spare_databases:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def wait_until_blocked(backend_pid: int) -> None:
    deadline = time.monotonic() + WAIT_S
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        while time.monotonic() < deadline:
            row = admin.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (backend_pid,)
            ).fetchone()
            if row == ("Lock",):
                return
            time.sleep(0.05)
    pytest.fail(f"backend {backend_pid} never waited for the other database's CREATE ROLE")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "SC_GRAFANA_DB_PASSWORD is empty or not set"),
        ("fifteen-chars!!", "SC_GRAFANA_DB_PASSWORD is shorter than 16 characters"),
    ],
)
def test_reader_password_refuses_a_short_password_before_connecting(
    password: str, problem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SC_GRAFANA_DB_PASSWORD", password)
    # An unreachable database: connecting at all would end with exit status 1.
    assert main(["db", "reader-password", "--database-url", "host=127.0.0.1 port=1 connect_timeout=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"smartcomplex: {problem}")
    assert err.count("\n") == 1
