"""The site file's catalogue in the database (migration 0006), written by ``smartcomplex db migrate`` and by the
server when it starts, for Grafana and the reports."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml

from devices.site import load_belt
from server.cli import main
from server.db.catalogue import CatalogueSync, sync_catalogue
from server.db.migrate import apply_migrations

SHIPPED = Path(__file__).resolve().parents[2] / "devices" / "sites" / "changping_road.yaml"
NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def _count(dsn: str, table: str, where: str = "in_site_file") -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


def test_migrate_writes_every_site_space_window_service_and_device(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    belt = load_belt()
    assert main(["db", "migrate", "--database-url", pg_dsn]) == 0
    assert f"site catalogue: {len(belt.sites)} site(s)" in capsys.readouterr().out
    assert _count(pg_dsn, "site_catalogue") == len(belt.sites)
    assert _count(pg_dsn, "space_catalogue") == sum(len(site.spaces) for site in belt.sites)
    assert _count(pg_dsn, "window_catalogue") == sum(len(site.windows) for site in belt.sites)
    assert _count(pg_dsn, "service_catalogue") == sum(len(site.services) for site in belt.sites)
    assert _count(pg_dsn, "device_catalogue") == sum(len(site.devices) for site in belt.sites)
    with psycopg.connect(pg_dsn) as connection:
        row = connection.execute(
            "SELECT name, floor_name, floor_level, kind, capacity, bookable FROM space_catalogue"
            " WHERE site_id = 'complex' AND space_id = 'day-care'"
        ).fetchone()
        zone = connection.execute("SELECT DISTINCT timezone FROM site_catalogue").fetchall()
    assert row == ("Community Elderly Day-care Center", "First floor", 1, "day-care", 30, False)
    assert zone == [("Asia/Shanghai",)]


def test_a_space_gone_from_the_site_file_keeps_its_row_unmarked(pg_dsn: str, tmp_path: Path) -> None:
    apply_migrations(pg_dsn)
    document = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    with psycopg.connect(pg_dsn) as connection:
        sync_catalogue(connection, load_belt(), now=NOW)
    complex_site = document["sites"][0]
    complex_site["spaces"] = [space for space in complex_site["spaces"] if space["id"] != "bookstore"]
    complex_site["devices"] = [device for device in complex_site["devices"] if device["space"] != "bookstore"]
    smaller = tmp_path / "site.yaml"
    smaller.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with psycopg.connect(pg_dsn) as connection:
        written = sync_catalogue(connection, load_belt(smaller), now=NOW)
        rows = connection.execute(
            "SELECT in_site_file, name FROM space_catalogue WHERE site_id = 'complex' AND space_id = 'bookstore'"
        ).fetchall()
    assert rows == [(False, "Happy Jiangning Bookstore")]
    assert written["space_catalogue"] == _count(pg_dsn, "space_catalogue")


def test_concurrent_syncs_and_a_bad_site_file(pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply_migrations(pg_dsn)
    belt = load_belt()
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            with psycopg.connect(pg_dsn) as connection:
                sync_catalogue(connection, belt, now=NOW)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(pg_dsn, "site_catalogue") == len(belt.sites)

    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: smartcomplex.site/v1\nsites: []\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        main(["db", "migrate", "--database-url", pg_dsn, "--site-file", str(bad)])
    assert stopped.value.code == 2
    assert "bad site file" in capsys.readouterr().err


def test_the_server_writes_it_once_the_database_is_ready(pg_dsn: str) -> None:
    syncer = CatalogueSync(pg_dsn, load_belt(), retry_s=0.1)
    syncer.start()  # before the schema exists: it fails, logs once, and retries
    try:
        assert not syncer.done.wait(0.5)
        apply_migrations(pg_dsn)
        assert syncer.done.wait(20)
    finally:
        syncer.stop()
    assert _count(pg_dsn, "space_catalogue") == sum(len(site.spaces) for site in load_belt().sites)
