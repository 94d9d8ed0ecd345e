"""Grafana panel queries on N days of belt-wide history: each panel's time at its dashboard's default range (the
baseline) and over the whole N days, as a ratio to that baseline.

Creates a fresh database on the given PostgreSQL server (dropped at the end unless --keep), migrates it, syncs
the shipped belt's catalogue, fills N days of history ending at the last 06:00 UTC (14:00 in Shanghai, a busy hour)
with bench/belt_history.py, and vacuums and analyses it. Then, for every panel of every committed dashboard
(dashboards/generated/*.json, read from the files so that new panels are included), it expands the panel's SQL as
Grafana would (dashboards/grafana/macros.py, plain PostgreSQL: no TimescaleDB) for two ranges ending at the end of
the history: the dashboard's default range (its time.from) and the whole N days. Every variable is "All": its
values come from running the variable's own query. $__interval is Grafana's for a panel 1000 px wide. Each query
runs once to warm up, then --repeat times; the best wall time counts (execute and fetch all rows). Like Grafana's
reader role, a statement gives up after 30 s ("timeout" in the table).

    uv run python bench/dashboard_queries.py [--days 90] [--repeat 3] [--dsn CONNINFO] [--keep]

Exits 1 (with FAILED lines on stderr) when a panel's query fails with an error other than the timeout, and 2 when
the benchmark cannot run (no database server, a bad argument).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from belt_history import fill_history  # bench/ is the script's folder, first on sys.path
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dashboards.grafana.macros import QueryContext, expand
from devices.site import load_belt
from server.db.catalogue import sync_catalogue
from server.db.migrate import apply_migrations

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards" / "generated"
DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PANEL_WIDTH_PX = 1000  # Grafana's maxDataPoints defaults to the panel's width in pixels
SLOW_MS = 1000.0
STATEMENT_TIMEOUT = "30s"  # grafana_reader's, per database (0008_grafana_reader.sql)
END_HOUR_UTC = 6
FILLED_TABLES = (
    "occupancy_reading", "device_event", "device_status", "device_status_change", "ingest_reject", "account",
    "booking", "booking_event", "unbooked_use", "queue_ticket", "queue_event", "edge_outbox_sample",
)  # fmt: skip
# Grafana's roundInterval (packages/grafana-data/src/datetime/rangeutil.ts, and gtime in the backend): an interval
# up to the first figure (ms) becomes the second; anything longer, a year. It rounds to the nearest nice value.
_ROUNDING_MS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000), (3_500, 2_000),
    (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000), (45_000, 30_000), (90_000, 60_000),
    (210_000, 120_000), (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000),
    (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000), (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)  # fmt: skip
_RELATIVE = re.compile(r"^now-(\d+)([mhdw])$")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True, slots=True)
class Panel:
    uid: str
    title: str
    default_range: str  # the dashboard's time.from, e.g. "now-12h"
    sql: str
    variables: dict[str, str]  # the dashboard's variables (name -> query), in dashboard order


@dataclass(frozen=True, slots=True)
class Run:
    rows: int
    ms: float | None  # None: the statement timed out, or failed
    failed: bool = False


def grafana_interval(span: timedelta) -> timedelta:
    target_ms = span.total_seconds() * 1000 / PANEL_WIDTH_PX
    for limit, rounded in _ROUNDING_MS:
        if target_ms <= limit:
            return timedelta(milliseconds=rounded)
    return timedelta(days=365)


def relative_span(text: str) -> timedelta:
    match = _RELATIVE.match(text)
    if match is None:
        raise ValueError(f"unsupported dashboard time.from {text!r}")
    return int(match.group(1)) * _UNIT[match.group(2)]


def interval_label(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def load_panels(folder: Path) -> list[Panel]:
    panels = []
    for path in sorted(folder.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        variables = {v["name"]: v["query"] for v in dashboard.get("templating", {}).get("list", [])}
        flat = [p for top in dashboard["panels"] for p in (top, *top.get("panels", ()))]
        for panel in flat:
            for target in panel.get("targets", ()):
                if panel.get("type") != "row" and target.get("rawSql"):
                    panels.append(
                        Panel(dashboard["uid"], panel["title"], dashboard["time"]["from"], target["rawSql"], variables)
                    )
    return panels


def history_end(now: datetime) -> datetime:
    end = now.astimezone(UTC).replace(hour=END_HOUR_UTC, minute=0, second=0, microsecond=0)
    return end if end <= now else end - timedelta(days=1)


def variable_values(conn: psycopg.Connection[Any], panel: Panel, context: QueryContext) -> dict[str, list[str]]:
    """Every variable set to All: the values its own query returns, earlier variables expanded first."""
    values: dict[str, list[str]] = {}
    for name, query in panel.variables.items():
        known = QueryContext(context.time_from, context.time_to, values, context.interval)
        values[name] = [row[0] for row in conn.execute(expand(query, known))]
    return values


def time_query(conn: psycopg.Connection[Any], query: str, repeat: int) -> Run:
    best, rows = None, 0
    try:
        for attempt in range(repeat + 1):  # the first is the warm-up
            began = time.perf_counter()
            rows = len(conn.execute(query).fetchall())
            elapsed = (time.perf_counter() - began) * 1000
            if attempt > 0:
                best = elapsed if best is None else min(best, elapsed)
    except psycopg.errors.QueryCanceled:
        return Run(rows, None)
    return Run(rows, best)


def fill(conninfo: str, days: int, end: datetime) -> float:
    began = time.perf_counter()
    apply_migrations(conninfo)
    belt = load_belt()
    with psycopg.connect(conninfo) as conn:
        sync_catalogue(conn, belt, now=end)
        fill_history(conn, belt, start=end - timedelta(days=days), end=end)
        conn.commit()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # A production database has been vacuumed by autovacuum (visibility map set, hint bits written): without
        # this, the first queries would pay for it and index-only scans would not be chosen.
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - began


def row_counts(conn: psycopg.Connection[Any]) -> list[tuple[str, int]]:
    counts = []
    for table in FILLED_TABLES:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,):
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            counts.append((table, row[0] if row else 0))
    return counts


def machine_facts(conn: psycopg.Connection[Any], load_at_start: str) -> str:
    settings = {
        name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]  # type: ignore[index]
        for name in ("server_version", "shared_buffers", "work_mem", "jit")
    }
    return (
        f"machine: {os.cpu_count()} CPUs; PostgreSQL {settings['server_version'].split()[0]}, shared_buffers "
        f"{settings['shared_buffers']}, work_mem {settings['work_mem']}, jit {settings['jit']}; "
        f"load average (1/5/15 min) {load_at_start} at the start, {load_average()} at the end"
    )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def ms_text(run: Run) -> str:
    if run.failed:
        return "error"
    return "timeout" if run.ms is None else f"{run.ms:.1f}"


def benchmark(conninfo: str, days: int, repeat: int, end: datetime, load_at_start: str) -> int:
    start = end - timedelta(days=days)
    print(f"dashboard queries: {days} days of belt-wide history ending {end:%Y-%m-%dT%H:%MZ}; "
          f"best of {repeat} after one warm-up; every variable All", flush=True)  # fmt: skip
    print(f"fill: {fill(conninfo, days, end):.1f} s (migrate, catalogue, history, VACUUM ANALYZE)", flush=True)
    panels = load_panels(DASHBOARDS)
    failures: list[str] = []
    results: list[tuple[Panel, Run, Run]] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table, count in row_counts(conn):
            print(f"  {table:<22}{count:>10}")
        conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT)))
        ranges = sorted({p.default_range for p in panels}, key=relative_span)
        intervals = [(name, grafana_interval(relative_span(name))) for name in ranges]
        intervals.append((f"{days}d", grafana_interval(end - start)))
        print("$__interval: " + ", ".join(f"{name} {interval_label(i)}" for name, i in intervals))
        print(f"{'dashboard':<12}{'panel':<50}{'default':>8}{'rows':>7}{f'rows_{days}d':>9}"
              f"{'default_ms':>11}{f'{days}d_ms':>10}{'ratio':>8}", flush=True)  # fmt: skip
        for panel in panels:
            runs = []
            for time_from in (end - relative_span(panel.default_range), start):
                context = QueryContext(time_from, end, {}, grafana_interval(end - time_from))
                context = QueryContext(time_from, end, variable_values(conn, panel, context), context.interval)
                try:
                    runs.append(time_query(conn, expand(panel.sql, context), repeat))
                except psycopg.Error as exc:
                    failures.append(f"{panel.uid} / {panel.title}: {type(exc).__name__}: {exc}".strip())
                    runs.append(Run(0, None, failed=True))
            default, whole = runs
            ratio = f"{whole.ms / default.ms:.2f}" if whole.ms and default.ms else "-"
            title = panel.title if len(panel.title) <= 48 else panel.title[:45] + "..."
            print(f"{panel.uid:<12}{title:<50}{panel.default_range:>8}{default.rows:>7}{whole.rows:>9}"
                  f"{ms_text(default):>11}{ms_text(whole):>10}{ratio:>8}", flush=True)  # fmt: skip
            results.append((panel, default, whole))
        print(summary(results, days))
        print(machine_facts(conn, load_at_start))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def summary(results: Sequence[tuple[Panel, Run, Run]], days: int) -> str:
    timed = [(p, d, w) for p, d, w in results if d.ms is not None and w.ms is not None]
    total_default = sum(d.ms or 0 for _, d, _ in timed)
    total_whole = sum(w.ms or 0 for _, _, w in timed)
    ratio = f"{total_whole / total_default:.2f}" if total_default else "-"
    lines = [f"total: {len(results)} panels, {total_default:.1f} ms at their default ranges, {total_whole:.1f} ms at "
             f"{days} days, ratio {ratio}"]  # fmt: skip
    lines.append(f"slowest 5 at {days} days:")
    ordered = sorted(results, key=lambda r: float("inf") if r[2].ms is None else r[2].ms, reverse=True)
    lines += [f"  {p.uid} / {p.title}: {ms_text(w)} ms (default range {ms_text(d)} ms)" for p, d, w in ordered[:5]]
    slow = [f"{p.uid} / {p.title} ({ms_text(w)} ms)" for p, _, w in ordered if w.ms is None or w.ms > SLOW_MS]
    lines.append(f"over {SLOW_MS / 1000:g} s at {days} days: " + ("; ".join(slow) if slow else "none"))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=90, help="days of history to fill (default 90)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per query after one warm-up (default 3)")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="conninfo of a maintenance database (admin rights)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its conninfo is printed)")
    args = parser.parse_args(argv)
    if args.days < 1 or args.repeat < 1:
        parser.error("--days and --repeat must be at least 1")
    load_at_start = load_average()
    name = f"sc_bench_dashboards_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        print(f"cannot create the benchmark database: {exc}", file=sys.stderr)
        return 2
    conninfo = make_conninfo(args.dsn, dbname=name)
    print(f"database: {name} ({'kept' if args.keep else 'dropped'} at the end)", flush=True)
    try:
        return benchmark(conninfo, args.days, args.repeat, history_end(datetime.now(UTC)), load_at_start)
    finally:
        if args.keep:
            print(f"kept database: {conninfo}")
        else:
            with psycopg.connect(args.dsn, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    sys.exit(main())
