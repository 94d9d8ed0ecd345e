"""The dashboards' template variables, by name. Values come from the site catalogue (migration 0006).

- ``site``: sites of the site file, several at once or All. Queries filter with ``site_id IN ($site)``: Grafana
  writes a multi-value SQL variable as a list of quoted values.
- ``space``: spaces of the chosen sites, as ``site/space`` (space ids are unique per site only). Queries filter
  with ``site_id || '/' || space_id IN ($space)``.
- ``room``: the same, of bookable spaces only (the rooms dashboard).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import QueryVariable
from grafana_foundation_sdk.models.dashboard import VariableRefresh, VariableSort

from dashboards.grafana.sql_query import DATASOURCE

SITE_QUERY = "SELECT site_id AS __value, name AS __text FROM site_catalogue WHERE in_site_file ORDER BY site_id"
SPACE_QUERY = (
    "SELECT site_id || '/' || space_id AS __value, name || ' (' || floor_name || ')' AS __text"
    " FROM space_catalogue WHERE in_site_file AND site_id IN ($site) ORDER BY site_id, floor_level, name"
)

ROOM_QUERY = SPACE_QUERY.replace("WHERE in_site_file AND", "WHERE in_site_file AND bookable AND")

VARIABLE_QUERIES = {"site": SITE_QUERY, "space": SPACE_QUERY, "room": ROOM_QUERY}
_LABELS = {"site": "Site", "space": "Space", "room": "Room"}


def variable(name: str) -> QueryVariable:
    if name not in VARIABLE_QUERIES:
        raise ValueError(f"unknown dashboard variable {name!r}; known: {sorted(VARIABLE_QUERIES)}")
    return (
        QueryVariable(name)
        .label(_LABELS[name])
        .datasource(DATASOURCE)
        .query(VARIABLE_QUERIES[name])
        .multi(True)
        .include_all(True)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.DISABLED)
    )
