"""Every dashboard of the product, and the files they are generated to."""

from __future__ import annotations

from pathlib import Path

from dashboards import GENERATED_DIR
from dashboards.grafana.devices import DEVICES
from dashboards.grafana.overview import OVERVIEW
from dashboards.grafana.render import dashboard_text
from dashboards.grafana.rooms import ROOMS
from dashboards.grafana.spec import DashboardSpec
from dashboards.grafana.windows import WINDOWS

DASHBOARDS: tuple[DashboardSpec, ...] = (OVERVIEW, ROOMS, WINDOWS, DEVICES)


def generated_files() -> dict[str, str]:
    """File name -> the JSON text generated for it."""
    return {spec.file_name: dashboard_text(spec) for spec in DASHBOARDS}


def write_generated(directory: Path = GENERATED_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated_files().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(directory: Path = GENERATED_DIR) -> list[str]:
    """Names of generated files that are missing or differ from what the specs generate, and stray JSON files."""
    expected = generated_files()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text
    ]
    stray = sorted(path.name for path in directory.glob("*.json") if path.name not in expected)
    return stale + stray
