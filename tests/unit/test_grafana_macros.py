"""Grafana's variables and PostgreSQL macros expanded as Grafana 11 expands them (pkg/tsdb/grafana-postgresql-
datasource/macros.go), so the dashboards' SQL can be run outside Grafana."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.grafana.macros import MacroError, QueryContext, expand, parse_interval

FROM = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
TO = datetime(2026, 11, 27, 13, 0, 0, 500000, tzinfo=UTC)


def context(**overrides: object) -> QueryContext:
    values: dict[str, object] = {
        "time_from": FROM,
        "time_to": TO,
        "variables": {"site": ["complex", "o'brien"]},
        "interval": timedelta(minutes=5),
    }
    values.update(overrides)
    return QueryContext(**values)  # type: ignore[arg-type]


def test_time_filter_is_a_between_of_rfc3339_instants_in_utc() -> None:
    assert expand("WHERE $__timeFilter(ts)", context()) == (
        "WHERE ts BETWEEN '2026-11-27T00:00:00Z' AND '2026-11-27T13:00:00.5Z'"
    )


def test_time_from_and_to_are_quoted_instants() -> None:
    assert expand("$__timeFrom() $__timeTo()", context()) == "'2026-11-27T00:00:00Z' '2026-11-27T13:00:00.5Z'"


def test_time_group_is_epoch_seconds_on_plain_postgresql_and_time_bucket_on_timescaledb() -> None:
    assert expand("SELECT $__timeGroupAlias(ts, '15m')", context()) == (
        'SELECT floor(extract(epoch from ts)/900)*900 AS "time"'
    )
    assert expand("SELECT $__timeGroupAlias(ts, '15m')", context(timescaledb=True)) == (
        "SELECT time_bucket('900.000s',ts) AS \"time\""
    )


def test_time_group_followed_by_a_comma_is_the_old_aliased_spelling() -> None:
    assert expand("SELECT $__timeGroup(ts, '1h'), x", context()).startswith(
        'SELECT floor(extract(epoch from ts)/3600)*3600 AS "time", x'
    )
    assert expand("GROUP BY $__timeGroup(ts, '1h')", context()) == "GROUP BY floor(extract(epoch from ts)/3600)*3600"


def test_interval_variables_come_before_the_macros_that_take_them() -> None:
    assert expand("$__timeGroupAlias(ts, $__interval) $__interval_ms", context()) == (
        'floor(extract(epoch from ts)/300)*300 AS "time" 300000'
    )


def test_multi_value_variables_are_quoted_lists_with_quotes_doubled() -> None:
    expected = "site_id IN ('complex','o''brien')"
    assert expand("site_id IN ($site)", context()) == expected
    assert expand("site_id IN (${site})", context()) == expected
    assert expand("site_id IN (${site:singlequote})", context()) == expected


def test_unknown_variables_macros_and_formats_are_errors() -> None:
    with pytest.raises(MacroError, match=r"\$space"):
        expand("space_id IN ($space)", context())
    with pytest.raises(MacroError, match="unknown macro"):
        expand("$__nope(ts)", context())
    with pytest.raises(MacroError, match="not supported"):
        expand("${site:json}", context())
    with pytest.raises(MacroError, match="interval"):
        expand("$__timeGroup(ts, 'often')", context())


def test_grafana_interval_strings() -> None:
    assert parse_interval("'5m'") == 300
    assert parse_interval("1h") == 3600
    assert parse_interval("500ms") == 0.5
    with pytest.raises(MacroError):
        parse_interval("5 minutes")


def test_a_time_range_must_be_aware_and_not_empty() -> None:
    with pytest.raises(ValueError, match="aware"):
        context(time_from=datetime(2026, 11, 27))
    with pytest.raises(ValueError, match="empty"):
        context(time_to=FROM)


def test_a_macro_argument_with_parentheses_is_refused_as_grafana_would_cut_it_short() -> None:
    with pytest.raises(MacroError, match="parentheses"):
        expand("WHERE $__timeFilter(lower(during))", context())
