"""Every panel's SQL, exactly as Grafana would send it (variables and macros expanded for the Friday's time range),
run against the database the day scenario filled: each returns the columns its panel expects, of the right kinds,
and the rows a Friday at the Complex must give.

The queries are read from the committed dashboard JSON, not from the specs, so a panel added to a dashboard is
run here too, and fails here if its spec declares no shape for it. They run twice: as the provisioned TimescaleDB
data source sends them (``$__timeGroup`` as ``time_bucket``, here a SQL stand-in defined on ``date_bin``, which
is what time_bucket computes for these fixed-width buckets) and as a plain PostgreSQL data source does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import tuple_row

from dashboards.grafana.catalogue import DASHBOARDS, GENERATED_DIR
from dashboards.grafana.macros import QueryContext, expand
from dashboards.grafana.spec import ColumnKind, PanelSpec
from dashboards.grafana.variables import VARIABLE_QUERIES
from devices.site import load_belt
from tests.system.friday import FridayRun

pytestmark = pytest.mark.system

# PostgreSQL type names of a result column, by the kind a panel expects. A time series' time column may be epoch
# seconds: that is what $__timeGroup gives without TimescaleDB, and Grafana reads it as time.
KINDS: dict[ColumnKind, set[str]] = {
    "time": {"timestamptz", "timestamp"},
    "number": {"int2", "int4", "int8", "float4", "float8", "numeric"},
    "text": {"text", "varchar", "name", "bpchar"},
    "bool": {"bool"},
}
TIME_AS_EPOCH = {"float8", "numeric"}

# time_bucket's stand-in for plain PostgreSQL: the same buckets for widths that divide a day (what our dashboards
# use), aligned like TimescaleDB's default origin (Monday 2000-01-03).
TIME_BUCKET_SHIM = """
CREATE SCHEMA IF NOT EXISTS timescale_shim;
CREATE OR REPLACE FUNCTION timescale_shim.time_bucket(bucket_width interval, ts timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS
$$ SELECT date_bin(bucket_width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$;
"""


def _panel_queries() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in sorted(GENERATED_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for panel in document["panels"]:
            if panel["type"] == "row":
                continue
            for target in panel["targets"]:
                found.append((str(document["uid"]), str(panel["title"]), target))
    return found


PANEL_QUERIES = _panel_queries()


def _spec(uid: str, title: str) -> PanelSpec:
    for dashboard in DASHBOARDS:
        if dashboard.uid == uid:
            for panel in dashboard.panels():
                if panel.title == title:
                    return panel
    raise AssertionError(f"{uid}: panel {title!r} has no spec declaring the shape of its rows")


@pytest.fixture(scope="module")
def connection(friday: FridayRun) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(friday.retimed_dsn, autocommit=True, row_factory=tuple_row) as conn:
        conn.execute(TIME_BUCKET_SHIM)
        yield conn


@pytest.fixture(scope="module")
def variables(connection: psycopg.Connection[tuple[Any, ...]]) -> dict[str, list[str]]:
    """Every variable set to All, as a dashboard opens: each one's values from its own query."""
    values = {}
    for name, query in VARIABLE_QUERIES.items():
        statement = query.replace("($site)", "(SELECT site_id FROM site_catalogue)")
        values[name] = [str(row[0]) for row in connection.execute(statement.encode())]
    assert len(values["site"]) >= 5, "the server wrote the site catalogue"
    assert values["room"]
    assert set(values["room"]) < set(values["space"])
    return values


def test_every_committed_panel_is_run_here() -> None:
    assert len(PANEL_QUERIES) == sum(len(dashboard.panels()) for dashboard in DASHBOARDS) >= 20


@pytest.mark.parametrize("timescaledb", [False, True], ids=["postgresql", "timescaledb"])
@pytest.mark.parametrize(("uid", "title", "target"), PANEL_QUERIES, ids=[f"{q[0]}:{q[1]}" for q in PANEL_QUERIES])
def test_a_panel_query_gives_the_rows_its_panel_expects(
    friday: FridayRun,
    connection: psycopg.Connection[tuple[Any, ...]],
    variables: dict[str, list[str]],
    uid: str,
    title: str,
    target: dict[str, Any],
    timescaledb: bool,
) -> None:
    spec = _spec(uid, title)
    context = QueryContext(
        time_from=friday.day_start,
        time_to=friday.day_end,
        variables=variables,
        interval=timedelta(minutes=5),
        timescaledb=timescaledb,
    )
    statement = expand(target["rawSql"], context)
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path = public, timescale_shim")
        cursor.execute(statement.encode())
        assert cursor.description is not None
        got = [(column.name, _type_name(connection, column.type_code)) for column in cursor.description]
        rows = cursor.fetchall()
    assert [name for name, _ in got] == [column.name for column in spec.columns], statement
    for (name, type_name), column in zip(got, spec.columns, strict=True):
        allowed = KINDS[column.kind] | (TIME_AS_EPOCH if column.kind == "time" else set())
        assert type_name in allowed, f"{title}: column {name} is {type_name}, the panel expects {column.kind}"
    assert len(rows) >= spec.min_rows, f"{title}: {len(rows)} rows on the Friday\n{statement}"
    if spec.format == "time_series" and rows:
        times = [row[0] for row in rows]
        assert times == sorted(times), f"{title}: a time series must come ordered by time"
        assert all(value is not None for value in times)


def _type_name(connection: psycopg.Connection[Any], oid: int) -> str:
    info = connection.adapters.types.get(oid)
    if info is not None:
        return info.name
    row = connection.execute("SELECT typname FROM pg_type WHERE oid = %s", (oid,)).fetchone()
    assert row is not None
    return str(row[0])


def test_the_friday_figures_add_up(friday: FridayRun, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
    """A panel checked for its values, not only its shape: tickets served per hour add up to the tickets the site
    agents completed, and every ticket of the ground truth is in the database.

    Served in the database is a little below the truth's: the scenario's staff press "call next" when the plan has
    somebody for them, while the agent calls the oldest eligible ticket, so the two orders drift apart over a day
    and a few tickets the plan served are still waiting at closing (5 of 279 on the seed-7 Friday)."""
    tickets = friday.truth["tickets"]
    served = sum(1 for ticket in tickets if ticket["outcome"] == "served")
    row = connection.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'done' AND finished_at BETWEEN %s AND %s) FROM queue_ticket",
        (friday.day_start, friday.day_end),
    ).fetchone()
    assert row is not None
    stored, done = row
    assert stored == len(tickets)
    assert 0.95 * served <= done <= served
    spec = _spec("sc-windows", "Tickets served per hour")
    every_site = [site.id for site in load_belt().sites]
    context = QueryContext(friday.day_start, friday.day_end, {"site": every_site})
    per_hour = connection.execute(expand(spec.sql, context).encode()).fetchall()
    assert sum(row[2] for row in per_hour) == done
