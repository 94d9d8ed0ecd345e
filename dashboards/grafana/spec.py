"""What a dashboard says, as plain data: rows of panels, each with its SQL and the shape of the rows it expects.

The shape is what the tests hold every panel to (tests/system/test_dashboard_queries.py runs each panel's SQL with
Grafana's macros expanded against a day of the scenario): the columns by name and kind, in order, and the least
number of rows that day must give. :mod:`dashboards.grafana.render` turns the specs into Grafana JSON with the
foundation SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["time", "number", "text", "bool"]
Visualisation = Literal["timeseries", "stat", "table", "barchart", "gauge", "bargauge"]
QueryFormat = Literal["time_series", "table"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ColumnKind


def columns(spec: str) -> tuple[Column, ...]:
    """``"time:time metric:text people:number"`` -> the columns, in order."""
    result = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        if kind not in ("time", "number", "text", "bool"):
            raise ValueError(f"column {item!r}: kind must be time, number, text or bool")
        result.append(Column(name, kind))  # type: ignore[arg-type]
    return tuple(result)


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float | None  # None: the base colour, below the first value
    color: str


# Colours by name, as Grafana's palette names them.
OK_WARN_ALERT = (Threshold(None, "green"), Threshold(80, "orange"), Threshold(100, "red"))


@dataclass(frozen=True, slots=True)
class PanelSpec:
    title: str
    description: str
    visualisation: Visualisation
    sql: str
    columns: tuple[Column, ...]
    width: int = 12  # of 24 grid columns
    height: int = 8
    unit: str | None = None
    decimals: int | None = None
    thresholds: tuple[Threshold, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    min_rows: int = 1  # rows the day scenario's Friday must give (0: may be empty on a day without such events)
    stacked: bool = False

    @property
    def format(self) -> QueryFormat:
        """Time series panels read Grafana's time_series frames; everything else reads a table."""
        return "time_series" if self.visualisation == "timeseries" else "table"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= 24:
            raise ValueError(f"{self.title}: width {self.width} is not 1..24")
        names = [column.name for column in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.title}: duplicate column names {names}")
        if self.visualisation == "timeseries" and (not self.columns or self.columns[0] != Column("time", "time")):
            raise ValueError(f"{self.title}: a time series query starts with a time column named time")


@dataclass(frozen=True, slots=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    file_name: str  # under dashboards/generated/
    rows: tuple[RowSpec, ...]
    variables: tuple[str, ...] = ("site",)  # names from dashboards.grafana.variables
    tags: tuple[str, ...] = ("smartcomplex",)
    time_from: str = "now-24h"
    refresh: str = "1m"

    def panels(self) -> tuple[PanelSpec, ...]:
        return tuple(panel for row in self.rows for panel in row.panels)
