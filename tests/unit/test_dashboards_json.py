"""The committed dashboard JSON is what the specs generate with the pinned foundation SDK, reads into the SDK's
dashboard model without loss, and every panel query has a declared shape (tests/system/test_dashboard_queries.py
runs them)."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from typing import Any

import pytest

from dashboards.grafana.catalogue import DASHBOARDS, GENERATED_DIR, generated_files, stale_files
from dashboards.grafana.render import encode_dashboard, load_dashboard
from dashboards.grafana.sql_query import DATASOURCE_UID, POSTGRES_TYPE, SqlQuery
from dashboards.grafana.variables import VARIABLE_QUERIES

COMMITTED = sorted(GENERATED_DIR.glob("*.json"))


def _panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in document["panels"] if panel["type"] != "row"]


def test_the_sdk_is_the_pinned_grafana_11_6_build() -> None:
    assert version("grafana-foundation-sdk") == "1769699379!11.6.0"


def test_regenerating_gives_the_committed_files() -> None:
    assert stale_files() == [], "run `smartcomplex dashboards generate` and commit dashboards/generated/"
    assert [path.name for path in COMMITTED] == sorted(generated_files())


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: path.name)
def test_a_dashboard_reads_into_the_sdk_model_and_back_without_loss(path: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    model = load_dashboard(document)
    assert encode_dashboard(model) == document
    targets = [target for panel in model.panels or [] for target in getattr(panel, "targets", None) or []]
    assert targets
    assert all(isinstance(target, SqlQuery) for target in targets)


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: path.name)
def test_every_panel_queries_the_provisioned_postgresql_source_with_a_known_variable(path: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    defined = {variable["name"] for variable in document["templating"]["list"]}
    assert defined <= set(VARIABLE_QUERIES)
    for panel in _panels(document):
        assert panel["datasource"] == {"type": POSTGRES_TYPE, "uid": DATASOURCE_UID}, panel["title"]
        [target] = panel["targets"]
        assert target["datasource"]["uid"] == DATASOURCE_UID
        assert target["format"] == ("time_series" if panel["type"] == "timeseries" else "table"), panel["title"]
        used = set(re.findall(r"\$\{?([a-z][a-z_]*)", target["rawSql"]))
        assert used <= defined, f"{panel['title']}: uses {used - defined}, not defined on the dashboard"


def test_every_panel_has_a_spec_with_its_expected_columns() -> None:
    for spec in DASHBOARDS:
        document = json.loads((GENERATED_DIR / spec.file_name).read_text(encoding="utf-8"))
        assert document["uid"] == spec.uid
        titles = [panel["title"] for panel in _panels(document)]
        assert titles == [panel.title for panel in spec.panels()]
        assert len(set(titles)) == len(titles), "panel titles are unique per dashboard"
        assert all(panel.columns for panel in spec.panels())


def test_panels_do_not_overlap_and_fit_the_grid() -> None:
    for spec in DASHBOARDS:
        document = json.loads((GENERATED_DIR / spec.file_name).read_text(encoding="utf-8"))
        cells: set[tuple[int, int]] = set()
        ids = [panel["id"] for panel in document["panels"]]
        assert len(set(ids)) == len(ids)
        for panel in document["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not mine & cells, f"{spec.uid}: {panel['title']} overlaps another panel"
            cells |= mine


def test_dashboards_have_unique_uids_and_files() -> None:
    assert len({spec.uid for spec in DASHBOARDS}) == len(DASHBOARDS)
    assert len({spec.file_name for spec in DASHBOARDS}) == len(DASHBOARDS)


def test_the_cli_checks_and_regenerates_the_files(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main

    assert main(["dashboards", "check"]) == 0
    assert main(["dashboards", "check", "--dir", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["dashboards", "generate", "--dir", str(tmp_path)]) == 0
    assert main(["dashboards", "check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "stray.json").write_text("{}", encoding="utf-8")
    assert main(["dashboards", "check", "--dir", str(tmp_path)]) == 1
