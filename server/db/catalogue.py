"""The site file's catalogue written to the database (migration 0006), for Grafana and the reports.

Dashboards and reports talk to the database by SQL only, so the names, floors, capacities, services, windows and
devices of every site must be there. :func:`sync_catalogue` writes the whole belt in one transaction: rows are
upserted, and rows of things the site file no longer names are kept with ``in_site_file = false`` (old readings
keep their names). It is idempotent, and two servers syncing at once serialise on the rows they both write.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from devices.site import Belt
from server.db.errors import DatabaseError, translated_errors

log = logging.getLogger(__name__)

# (table, key columns, other columns). The statements below are built from these fixed names only.
_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "site_catalogue": (("site_id",), ("name", "address", "timezone")),
    "space_catalogue": (
        ("site_id", "space_id"),
        ("name", "floor_id", "floor_name", "floor_level", "kind", "capacity", "bookable"),
    ),
    "service_catalogue": (("site_id", "service_id"), ("name", "prefix")),
    "window_catalogue": (("site_id", "window_id"), ("name", "space_id", "services")),
    "device_catalogue": (("site_id", "device_id"), ("model", "space_id", "transport", "report_interval_s")),
}


def catalogue_rows(belt: Belt) -> dict[str, list[tuple[Any, ...]]]:
    """Every catalogue table's rows for a belt: key columns first, then the others, in ``_TABLES`` order."""
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _TABLES}
    for site in belt.sites:
        floors = {floor.id: floor for floor in site.floors}
        rows["site_catalogue"].append((site.id, site.name, site.address, belt.timezone))
        for space in site.spaces:
            floor = floors[space.floor]
            rows["space_catalogue"].append(
                (site.id, space.id, space.name, floor.id, floor.name, floor.level, space.kind, space.capacity,
                 space.bookable)
            )  # fmt: skip
        for service in site.services:
            rows["service_catalogue"].append((site.id, service.id, service.name, service.prefix))
        for window in site.windows:
            rows["window_catalogue"].append((site.id, window.id, window.name, window.space, list(window.services)))
        for device in site.devices:
            rows["device_catalogue"].append(
                (site.id, device.id, device.model, device.space, device.transport, device.report_interval_s)
            )
    return rows


def _upsert_statement(table: str, keys: Sequence[str], others: Sequence[str]) -> str:
    columns = [*keys, *others, "in_site_file", "synced_at"]
    placeholders = ", ".join(["%s"] * (len(keys) + len(others))) + ", true, %s"
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in [*others, "in_site_file", "synced_at"])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def sync_catalogue(conn: psycopg.Connection[Any], belt: Belt, *, now: datetime) -> dict[str, int]:
    """Write the belt's catalogue in one transaction; returns the rows written per table."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    rows = catalogue_rows(belt)
    with translated_errors("sync the site catalogue"), conn.transaction(), conn.cursor() as cur:
        for table, (keys, others) in _TABLES.items():
            # Everything is unmarked first and marked again by the upsert: what the file no longer names stays
            # unmarked. Sorted rows make two concurrent syncs lock in the same order.
            cur.execute(f"UPDATE {table} SET in_site_file = false WHERE in_site_file")
            table_rows = sorted(rows[table], key=lambda row: row[: len(keys)])
            if table_rows:
                cur.executemany(_upsert_statement(table, keys, others), [(*row, now) for row in table_rows])
    return {table: len(table_rows) for table, table_rows in rows.items()}


class CatalogueSync:
    """Writes the catalogue from a thread when the server starts, retrying while the database cannot be reached
    (a server may start before its database): requests never wait for it."""

    def __init__(self, conninfo: str, belt: Belt, *, retry_s: float = 5.0) -> None:
        self._conninfo = conninfo
        self._belt = belt
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catalogue-sync", daemon=True)
        self.done = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, connect_timeout=10) as conn:
                    written = sync_catalogue(conn, self._belt, now=datetime.now(UTC))
            except (psycopg.Error, DatabaseError) as exc:
                if not failing:  # logged when it starts failing, not on every retry
                    log.warning("site catalogue not written yet (retrying every %.0f s): %s", self._retry_s, exc)
                failing = True
                self._stop.wait(self._retry_s)
                continue
            log.info("site catalogue written: %s", written)
            self.done.set()
            return
