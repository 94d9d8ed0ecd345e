"""Grafana's provisioning files (dashboards/provisioning/) agree with docker-compose.yml and the dashboards.

Grafana cannot run where the tests run, so the files are read as YAML and checked against what Grafana will find:
the paths compose mounts, the data source every generated dashboard names, the variables compose passes.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from dashboards.grafana.catalogue import GENERATED_DIR
from dashboards.grafana.sql_query import DATASOURCE_UID, POSTGRES_TYPE

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "dashboards" / "provisioning"
DATASOURCES_FILE = PROVISIONING / "datasources" / "smartcomplex.yaml"
DASHBOARDS_FILE = PROVISIONING / "dashboards" / "smartcomplex.yaml"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"  # GF_PATHS_PROVISIONING of the grafana image
PASSWORD_VARIABLE = "GRAFANA_DB_PASSWORD"
READER_ROLE = "grafana_reader"
# Grafana's own data sources, which dashboards may name besides ours (annotations' "-- Grafana --").
BUILT_IN_TYPES = {"grafana", "datasource"}


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


@functools.cache
def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = load(ROOT / "docker-compose.yml")["services"]
    return services


def grafana_mounts() -> dict[str, tuple[str, list[str]]]:
    """{target in the grafana container: (source, options)} of its short-syntax volumes."""
    found = {}
    for entry in compose_services()["grafana"]["volumes"]:
        source, target, *options = entry.split(":")
        found[target] = (source, options)
    return found


def datasource() -> dict[str, Any]:
    document = load(DATASOURCES_FILE)
    assert document["apiVersion"] == 1
    (only,) = document["datasources"]
    assert isinstance(only, dict)
    return only


def provider() -> dict[str, Any]:
    document = load(DASHBOARDS_FILE)
    assert document["apiVersion"] == 1
    (only,) = document["providers"]
    assert isinstance(only, dict)
    return only


def datasource_references(node: object) -> Iterator[dict[str, Any]]:
    """Every ``"datasource": {...}`` object anywhere in a dashboard's JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield value
            yield from datasource_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_references(item)


def test_the_data_source_has_the_uid_and_type_the_dashboards_name() -> None:
    source = datasource()
    assert source["uid"] == DATASOURCE_UID == "smartcomplex-postgres"
    assert source["type"] == POSTGRES_TYPE == "grafana-postgresql-datasource"
    dashboards = sorted(GENERATED_DIR.glob("*.json"))
    assert dashboards, f"no generated dashboards in {GENERATED_DIR}"
    for path in dashboards:
        references = list(datasource_references(json.loads(path.read_text(encoding="utf-8"))))
        ours = [ref for ref in references if ref.get("type") not in BUILT_IN_TYPES]
        assert ours, f"{path.name} names no data source"
        assert all(ref == {"type": POSTGRES_TYPE, "uid": DATASOURCE_UID} for ref in ours), path.name


def test_the_data_source_reads_the_stacks_database_as_the_read_only_role() -> None:
    source = datasource()
    host, _, port = source["url"].partition(":")
    assert host in compose_services(), f"{host} is no service of the stack"
    database = compose_services()[host]["environment"]["POSTGRES_DB"]
    assert port == "5432"
    assert source["user"] == READER_ROLE
    assert source["jsonData"] == {
        "database": database,
        "sslmode": "disable",
        "postgresVersion": 1500,
        "timescaledb": True,
    }
    assert re.search(r"-pg15$", compose_services()[host]["image"]), "postgresVersion 1500 is PostgreSQL 15"
    assert source["editable"] is False


def test_the_reader_password_comes_from_the_environment_compose_gives_grafana() -> None:
    assert datasource()["secureJsonData"] == {"password": f"${{{PASSWORD_VARIABLE}}}"}
    # Grafana expands $NAME and ${NAME} anywhere in a provisioning file: no other dollar may appear.
    assert DATASOURCES_FILE.read_text(encoding="utf-8").count("$") == 1
    grafana = compose_services()["grafana"]["environment"]
    reader = compose_services()["grafana-reader"]["environment"]
    assert grafana[PASSWORD_VARIABLE] == reader["SC_GRAFANA_DB_PASSWORD"]
    assert re.fullmatch(r"\$\{SC_GRAFANA_DB_PASSWORD:\?[^}]+\}", grafana[PASSWORD_VARIABLE])
    assert compose_services()["grafana-reader"]["command"] == ["db", "reader-password"]


def test_the_dashboard_provider_reads_the_folder_compose_mounts_the_generated_dashboards_at() -> None:
    entry = provider()
    assert entry["type"] == "file"
    assert entry["folder"] == "Smart Complex"
    assert entry["allowUiUpdates"] is False
    path = entry["options"]["path"]
    assert path == "/var/lib/grafana/dashboards"
    source, options = grafana_mounts()[path]
    assert (ROOT / source).resolve() == GENERATED_DIR
    assert options == ["ro"]


def test_compose_mounts_both_provisioning_folders_read_only_where_grafana_looks() -> None:
    for kind, path in (("datasources", DATASOURCES_FILE), ("dashboards", DASHBOARDS_FILE)):
        source, options = grafana_mounts()[f"{GRAFANA_PROVISIONING}/{kind}"]
        assert (ROOT / source).resolve() == path.parent
        assert options == ["ro"]
        assert [file.name for file in path.parent.iterdir()] == [path.name], f"stray files in {path.parent}"
