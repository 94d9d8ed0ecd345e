"""The TimescaleDB layer as shipped, and the decision of when it runs.

TimescaleDB is not installed on the development machine, so the layer's SQL is checked for its shape here and the
decision function is driven with given availability and licence values; running it is for a TimescaleDB server.
"""

from __future__ import annotations

import re

import pytest

from server.db.migrate import Migration, shipped_migrations, timescale_step_applies

PLAIN, TIMESCALE = shipped_migrations()
STEPS = {step.version: step for step in TIMESCALE}


def columns_of(select_sql: str) -> list[str]:
    """The output names (``AS name`` or bare column) of the SELECT list in a view definition."""
    select_list = re.search(r"SELECT(.*?)\bFROM\b", select_sql, re.S | re.I)
    assert select_list is not None
    names = []
    for item in select_list.group(1).split(",\n"):
        alias = re.search(r"\bAS\s+(\w+)\s*$", item.strip(), re.I)
        names.append(alias.group(1) if alias else item.strip())
    return names


def test_timescale_layer_ships_in_order() -> None:
    assert list(STEPS) == [
        "timescale/0001_hypertable",
        "timescale/0002_occupancy_15m",
        "timescale/0003_occupancy_15m_backfill",
        "timescale/0004_compression",
        "timescale/0005_retention",
    ]


def test_hypertable_step_converts_the_existing_table_and_its_rows() -> None:
    step = STEPS["timescale/0001_hypertable"]
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb" in step.sql
    assert "by_range('ts'" in step.sql
    assert "migrate_data => true" in step.sql
    assert not step.needs_timescale_license  # hypertables are in the Apache-2 build


def test_continuous_aggregate_replaces_the_view_under_the_same_name_and_columns() -> None:
    step = STEPS["timescale/0002_occupancy_15m"]
    assert "DROP VIEW IF EXISTS occupancy_15m;" in step.sql
    assert "CREATE MATERIALIZED VIEW occupancy_15m" in step.sql
    assert "timescaledb.continuous" in step.sql
    assert "WITH NO DATA;" in step.sql  # WITH DATA cannot run inside the step's transaction
    assert "add_continuous_aggregate_policy(" in step.sql
    plain_view = next(m for m in PLAIN if m.version == "0001_occupancy").sql.split("CREATE VIEW occupancy_15m")[1]
    aggregate = step.sql.split("CREATE MATERIALIZED VIEW occupancy_15m")[1]
    expected = ["bucket", "site_id", "space_id", "avg_people", "max_people", "readings"]
    assert columns_of(plain_view) == expected
    assert columns_of(aggregate) == expected


def test_backfill_runs_outside_a_transaction_as_one_statement() -> None:
    step = STEPS["timescale/0003_occupancy_15m_backfill"]
    assert not step.in_transaction
    statements = [line for line in step.sql.splitlines() if line.strip() and not line.startswith("--")]
    assert statements == ["CALL refresh_continuous_aggregate('occupancy_15m', NULL, NULL);"]


def test_policies_are_added_idempotently() -> None:
    assert "add_compression_policy('occupancy_reading'" in STEPS["timescale/0004_compression"].sql
    assert "add_retention_policy('occupancy_reading'" in STEPS["timescale/0005_retention"].sql
    for step in TIMESCALE:
        for call in re.findall(r"add_\w+_policy\((.*?)\);", step.sql, re.S):
            assert "if_not_exists => true" in call


def test_licensed_features_are_marked_as_needing_the_community_licence() -> None:
    licensed = [step.version for step in TIMESCALE if step.needs_timescale_license]
    assert licensed == [
        "timescale/0002_occupancy_15m",
        "timescale/0003_occupancy_15m_backfill",
        "timescale/0004_compression",
        "timescale/0005_retention",
    ]


@pytest.mark.parametrize("timescale_license", ["timescale", "apache", None])
def test_no_step_applies_without_the_extension(timescale_license: str | None) -> None:
    for step in TIMESCALE:
        assert not timescale_step_applies(step, extension_available=False, timescale_license=timescale_license)


def test_every_step_applies_with_the_extension_and_community_licence() -> None:
    for step in TIMESCALE:
        assert timescale_step_applies(step, extension_available=True, timescale_license="timescale")


@pytest.mark.parametrize("timescale_license", ["apache", None])
def test_apache_build_gets_only_the_hypertable(timescale_license: str | None) -> None:
    applies = [
        step.version
        for step in TIMESCALE
        if timescale_step_applies(step, extension_available=True, timescale_license=timescale_license)
    ]
    assert applies == ["timescale/0001_hypertable"]


def test_an_unlicensed_step_needs_only_the_extension() -> None:
    step = Migration(version="timescale/0009_x", sql="SELECT 1;", in_transaction=True, needs_timescale_license=False)
    assert timescale_step_applies(step, extension_available=True, timescale_license="apache")
    assert not timescale_step_applies(step, extension_available=False, timescale_license="timescale")
