"""Grafana's template variables and PostgreSQL macros expanded as Grafana expands them, so that every panel's SQL
can be run outside Grafana (tests, the panel-query benchmark) exactly as Grafana would send it.

Grafana does this in two steps: the front end replaces template variables (``$site``, ``${site:singlequote}``,
``$__interval_ms``, ...), then the PostgreSQL data source's macro engine replaces ``$__timeFilter(col)`` and friends
(grafana/grafana ``pkg/tsdb/grafana-postgresql-datasource/macros.go``). With the data source's ``timescaledb``
option ``$__timeGroup`` becomes ``time_bucket``; without it, an epoch-seconds expression, which Grafana reads as a
time column too. Only what our dashboards use is supported; anything else is an error, never passed through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}|\$([A-Za-z_][A-Za-z0-9_]*)\b(?!\()")
# Grafana interval strings: a number and a unit (gtime.ParseInterval).
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class MacroError(ValueError):
    """SQL with a macro or variable Grafana would not expand (or that we do not support)."""


@dataclass(frozen=True, slots=True)
class QueryContext:
    """What Grafana knows when it runs a panel's query: the time range, the variables' values, the interval."""

    time_from: datetime
    time_to: datetime
    variables: Mapping[str, Sequence[str]]  # every variable is multi-valued in our dashboards
    interval: timedelta = timedelta(minutes=5)
    timescaledb: bool = False

    def __post_init__(self) -> None:
        if self.time_from.utcoffset() is None or self.time_to.utcoffset() is None:
            raise ValueError("the time range must be timezone-aware")
        if not self.time_from < self.time_to:
            raise ValueError("the time range is empty")


def _rfc3339(value: datetime) -> str:
    # Go's time.RFC3339Nano: UTC with a Z, fractional seconds without trailing zeros.
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _interval_text(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    for unit in ("d", "h", "m", "s"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{int(seconds // _UNIT_SECONDS[unit])}{unit}"
    return f"{int(seconds * 1000)}ms"


def parse_interval(text: str) -> float:
    """Seconds in a Grafana interval string such as ``'5m'``."""
    match = _INTERVAL.match(text.strip().strip("'"))
    if match is None:
        raise MacroError(f"not an interval: {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}"  # Go's %v of a float64: 300, 0.5


def _builtin(name: str, context: QueryContext) -> str | None:
    interval_s = context.interval.total_seconds()
    range_s = (context.time_to - context.time_from).total_seconds()
    values = {
        "__interval": _interval_text(context.interval),
        "__interval_ms": str(int(interval_s * 1000)),
        "__range_s": str(int(range_s)),
        "__range_ms": str(int(range_s * 1000)),
    }
    return values.get(name)


def expand_variables(sql: str, context: QueryContext) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        fmt = match.group(2)
        builtin = _builtin(name, context)
        if builtin is not None:
            return builtin
        if name.startswith("__"):
            return match.group(0)  # a macro without parentheses? left for the macro step to refuse
        if name not in context.variables:
            raise MacroError(f"variable ${name} has no value")
        values = list(context.variables[name])
        if not values:
            raise MacroError(f"variable ${name} has no value")
        if fmt in (None, "singlequote", "sqlstring"):
            return ",".join(_quote(value) for value in values)
        if fmt == "csv":
            return ",".join(values)
        raise MacroError(f"variable format {fmt!r} of ${name} is not supported")

    return _VARIABLE.sub(replace, sql)


def _time_group(args: list[str], context: QueryContext) -> str:
    if len(args) < 2:
        raise MacroError("$__timeGroup needs a time column and an interval (and an optional fill value)")
    seconds = parse_interval(args[1])
    if context.timescaledb:
        return f"time_bucket('{seconds:.3f}s',{args[0]})"
    return f"floor(extract(epoch from {args[0]})/{_seconds_text(seconds)})*{_seconds_text(seconds)}"


def _macro(name: str, args: list[str], context: QueryContext) -> str:
    start, end = _rfc3339(context.time_from), _rfc3339(context.time_to)
    match name:
        case "__time":
            return f'{args[0]} AS "time"'
        case "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        case "__timeFilter":
            if not args or not args[0]:
                raise MacroError("$__timeFilter needs a time column")
            return f"{args[0]} BETWEEN '{start}' AND '{end}'"
        case "__timeFrom":
            return f"'{start}'"
        case "__timeTo":
            return f"'{end}'"
        case "__timeGroup":
            return _time_group(args, context)
        case "__timeGroupAlias":
            return _time_group(args, context) + ' AS "time"'
        case "__unixEpochFilter":
            begin, finish = int(context.time_from.timestamp()), int(context.time_to.timestamp())
            return f"{args[0]} >= {begin} AND {args[0]} <= {finish}"
    raise MacroError(f"unknown macro ${name}")


def expand_macros(sql: str, context: QueryContext) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if "(" in match.group(2):  # Grafana's pattern ends a macro at the first ")": lower(col) would be cut short
            raise MacroError(f"${name}({match.group(2)}...: a macro's arguments cannot hold parentheses")
        args = [arg.strip() for arg in match.group(2).split(",")]
        if name == "__timeGroup":
            # As Grafana: "$__timeGroup(...)," in a select list is the pre-5.3 spelling of the aliased form.
            end = match.end()
            if end < len(sql) and sql[end] == ",":
                name = "__timeGroupAlias"
        return _macro(name, args, context)

    expanded = _MACRO.sub(replace, sql)
    leftover = re.search(r"\$__[A-Za-z]+", expanded)
    if leftover is not None:
        raise MacroError(f"{leftover.group(0)} was not expanded")
    return expanded


def expand(sql: str, context: QueryContext) -> str:
    """The SQL Grafana would send to PostgreSQL for this panel query."""
    return expand_macros(expand_variables(sql, context), context)
