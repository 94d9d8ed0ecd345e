"""The report's charts as PNG files, drawn with matplotlib's Agg canvas directly (no pyplot, so no display, no
global figure state): hours per room, waits per service, tickets served per day and per hour of the day.

Names are the site file's (English in the shipped one). Should a site file use Chinese names, a CJK font installed on
the machine (Noto Sans CJK, WenQuanYi, ...) is used as a fallback; without one, those names show as boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]
from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_CJK_FALLBACKS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei")
_LABEL_MAX = 56  # characters of a room's or service's label before it is shortened
_DPI = 100


def _font_families() -> list[str]:
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in _CJK_FALLBACKS if name in installed)]


def _label(site: str, name: str) -> str:
    text = f"{site}: {name}"
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 1] + "…"


def _figure(rows: int) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(11, max(3.0, 1.8 + 0.38 * rows)), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def _nothing_to_show(axes: Axes, title: str) -> None:
    axes.set_title(title)
    axes.text(0.5, 0.5, "nothing to show for these days", ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def _legend_below(figure: Figure, entries: int) -> None:
    # Outside the plot (constrained layout makes room), so that it never hides a bar.
    figure.legend(loc="outside lower center", ncols=min(entries, 5), frameon=False)


def _horizontal_bars(
    figure: Figure, axes: Axes, labels: Sequence[str], series: dict[str, pd.Series], unit: str
) -> None:
    """Grouped horizontal bars, first label on top."""
    height = 0.8 / len(series)
    positions = range(len(labels))
    for number, (name, values) in enumerate(series.items()):
        axes.barh([p + number * height for p in positions], values.fillna(0).to_list(), height=height, label=name)
    axes.set_yticks([p + height * (len(series) - 1) / 2 for p in positions], labels=list(labels))
    axes.invert_yaxis()
    axes.set_xlabel(unit)
    axes.grid(axis="x", alpha=0.3)
    _legend_below(figure, len(series))


def utilisation_chart(rooms: pd.DataFrame, path: Path, *, caption: str) -> Path:
    """Hours per room over the period: booked, used of booked, used without a booking."""
    title = f"Room utilisation, {caption}"
    with rc_context({"font.family": _font_families()}):
        figure, axes = _figure(len(rooms))
        if rooms.empty:
            _nothing_to_show(axes, title)
        else:
            labels = [_label(site, room) for site, room in zip(rooms["site"], rooms["room"], strict=True)]
            series = {
                "booked": rooms["booked_hours"],
                "used of booked": rooms["used_of_booked_hours"],
                "used, not booked": rooms["unbooked_use_hours"],
            }
            _horizontal_bars(figure, axes, labels, series, "hours")
            axes.set_title(title)
        return _save(figure, path)


def waits_chart(services: pd.DataFrame, path: Path, *, caption: str) -> Path:
    """Median and 90th-percentile wait per service over the period (services with a ticket called)."""
    title = f"Waits per service, {caption}"
    called = services[services["median_wait_min"].notna()]
    with rc_context({"font.family": _font_families()}):
        figure, axes = _figure(len(called))
        if called.empty:
            _nothing_to_show(axes, title)
        else:
            labels = [_label(site, name) for site, name in zip(called["site"], called["service"], strict=True)]
            series = {"median": called["median_wait_min"], "90th percentile": called["p90_wait_min"]}
            _horizontal_bars(figure, axes, labels, series, "minutes from joining the queue to the call")
            axes.set_title(title)
        return _save(figure, path)


def _stacked_columns(figure: Figure, axes: Axes, table: pd.DataFrame, labels: Sequence[str]) -> None:
    """One column per row of ``table``, stacked by its columns (sites)."""
    positions = list(range(len(table)))
    bottom = [0.0] * len(table)
    for site in table.columns:
        values = [float(v) for v in table[site].to_list()]
        axes.bar(positions, values, bottom=bottom, label=str(site))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(positions, labels=list(labels))
    axes.set_ylabel("tickets served")
    axes.grid(axis="y", alpha=0.3)
    _legend_below(figure, len(table.columns))


def served_per_day_chart(per_day: pd.DataFrame, path: Path, *, caption: str) -> Path:
    """Tickets served per local day, stacked by site (``per_day``: days as rows, sites as columns)."""
    title = f"Tickets served per day, {caption}"
    with rc_context({"font.family": _font_families()}):
        figure, axes = _figure(8)
        if per_day.empty or not per_day.to_numpy().sum():
            _nothing_to_show(axes, title)
        else:
            labels = [day.strftime("%a %d %b") for day in per_day.index]
            _stacked_columns(figure, axes, per_day, labels)
            axes.tick_params(axis="x", labelrotation=90 if len(labels) > 10 else 0)
            axes.set_title(title)
        return _save(figure, path)


def served_by_hour_chart(by_hour: pd.DataFrame, path: Path, *, caption: str) -> Path:
    """Tickets served per local hour of the day over the period, stacked by site."""
    title = f"Tickets served by hour of the day (local time), {caption}"
    with rc_context({"font.family": _font_families()}):
        figure, axes = _figure(8)
        if by_hour.empty:
            _nothing_to_show(axes, title)
        else:
            table = by_hour.pivot_table(index="hour", columns="site", values="served", aggfunc="sum", fill_value=0)
            table = table.reindex(range(int(table.index.min()), int(table.index.max()) + 1), fill_value=0)
            _stacked_columns(figure, axes, table, [f"{hour:02d}" for hour in table.index])
            axes.set_xlabel("hour")
            axes.set_title(title)
        return _save(figure, path)
