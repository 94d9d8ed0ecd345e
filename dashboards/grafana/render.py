"""Dashboard specs (:mod:`dashboards.grafana.spec`) to Grafana dashboard JSON, through Grafana's foundation SDK.

The output is deterministic (sorted keys, fixed ids and layout), so regenerating gives byte-identical files and a
test can hold the committed JSON to the specs.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import barchart, bargauge, gauge, stat, table, timeseries
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    StackingConfig,
    VizLegendOptions,
)
from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink, Row, ThresholdsConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    GraphDrawStyle,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
)

from dashboards.grafana.spec import DashboardSpec, PanelSpec
from dashboards.grafana.sql_query import DATASOURCE, SqlQueryBuilder, register_sql_query
from dashboards.grafana.variables import variable

GRID_WIDTH = 24
# The site's local time: staff read opening hours and queues in it. Inside, every time is UTC (the database).
DASHBOARD_TIMEZONE = "Asia/Shanghai"

_Panel = timeseries.Panel | stat.Panel | table.Panel | barchart.Panel | gauge.Panel | bargauge.Panel


def _thresholds(spec: PanelSpec) -> ThresholdsConfig | None:
    if spec.thresholds is None:
        return None
    steps = [model.Threshold(value=step.value, color=step.color) for step in spec.thresholds]
    return ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


def _reduce_each_row() -> ReduceDataOptions:
    # Gauges and stats over a table: one value per row, named by the row's text column.
    return ReduceDataOptions().values(True).calcs(["lastNotNull"])


def _visualisation(spec: PanelSpec) -> _Panel:
    legend = VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)
    match spec.visualisation:
        case "timeseries":
            series = timeseries.Panel().legend(legend).line_width(1).fill_opacity(10)
            if spec.stacked:
                series = series.stacking(StackingConfig().mode(StackingMode.NORMAL)).draw_style(GraphDrawStyle.BARS)
            if spec.thresholds is not None:
                series = series.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE))
            return series
        case "stat":
            return stat.Panel().reduce_options(_reduce_each_row())
        case "gauge":
            return gauge.Panel().reduce_options(_reduce_each_row()).show_threshold_markers(True)
        case "bargauge":
            return bargauge.Panel().reduce_options(_reduce_each_row()).display_mode(BarGaugeDisplayMode.GRADIENT)
        case "barchart":
            # The first text column is the x axis (an hour of the day, a weekday).
            x_field = next(column.name for column in spec.columns if column.kind == "text")
            chart = barchart.Panel().x_field(x_field).legend(legend)
            return chart.stacking(StackingMode.NORMAL) if spec.stacked else chart
        case "table":
            return table.Panel()
    raise ValueError(f"unknown visualisation {spec.visualisation!r}")


def panel_builder(spec: PanelSpec, *, panel_id: int, x: int, y: int) -> _Panel:
    panel = (
        _visualisation(spec)
        .id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .datasource(DATASOURCE)
        .grid_pos(model.GridPos(h=spec.height, w=spec.width, x=x, y=y))
        .with_target(SqlQueryBuilder(spec.sql.strip(), format_val=spec.format))
    )
    if spec.unit is not None:
        panel = panel.unit(spec.unit)
    if spec.decimals is not None:
        panel = panel.decimals(spec.decimals)
    if spec.min_value is not None:
        panel = panel.min(spec.min_value)
    if spec.max_value is not None:
        panel = panel.max(spec.max_value)
    thresholds = _thresholds(spec)
    if thresholds is not None:
        panel = panel.thresholds(thresholds)
    return panel


def dashboard_builder(spec: DashboardSpec) -> Dashboard:
    builder = (
        Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(list(spec.tags))
        .timezone(DASHBOARD_TIMEZONE)
        .time(spec.time_from, "now")
        .refresh(spec.refresh)
        .editable()
    )
    for name in spec.variables:
        builder = builder.with_variable(variable(name))
    # Every dashboard links to its siblings: a drop-down of the dashboards tagged like it, keeping time and variables.
    builder = builder.link(
        DashboardLink("Smart Complex").type(model.DashboardLinkType.DASHBOARDS).tags(list(spec.tags))
        .as_dropdown(True).include_vars(True).keep_time(True)
    )  # fmt: skip
    panel_id, y = 1, 0
    for row in spec.rows:
        builder = builder.with_row(Row(row.title).id(panel_id).grid_pos(model.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        panel_id, y = panel_id + 1, y + 1
        x, row_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:  # wrap onto a new line of the row
                x, y, row_height = 0, y + row_height, 0
            builder = builder.with_panel(panel_builder(panel, panel_id=panel_id, x=x, y=y))
            panel_id, x, row_height = panel_id + 1, x + panel.width, max(row_height, panel.height)
        y += row_height
    return builder


def load_dashboard(document: dict[str, Any]) -> model.Dashboard:
    """A dashboard's JSON read into the SDK's model, with our PostgreSQL targets typed (:class:`SqlQuery`)."""
    register_default_plugins()
    register_sql_query()
    return model.Dashboard.from_json(document)


def encode_dashboard(dashboard: model.Dashboard) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(dashboard))
    return document


def dashboard_json(spec: DashboardSpec) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict), in the SDK model's canonical form: built, then read
    back into the model once, which fills the defaults a panel type's model has (table cell options, bar chart
    fill). Reading the result into the model again then changes nothing (tests/unit/test_dashboards_json.py)."""
    return encode_dashboard(load_dashboard(encode_dashboard(dashboard_builder(spec).build())))


def dashboard_text(spec: DashboardSpec) -> str:
    """The committed file's text: indented, keys sorted, one newline at the end."""
    return json.dumps(dashboard_json(spec), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
