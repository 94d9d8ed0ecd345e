"""A PostgreSQL data source query for the foundation SDK, which ships builders for many data sources but not for
Grafana's built-in PostgreSQL one.

The JSON is what Grafana 11's SQL query editor saves in code mode: ``rawSql`` with ``rawQuery`` and
``editorMode: "code"``, a ``format`` (``time_series`` or ``table``) and the data source reference. Registering the
variant lets ``Dashboard.from_json`` read such targets back as :class:`SqlQuery` rather than as an untyped bag.
"""

from __future__ import annotations

import typing

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

POSTGRES_TYPE = "grafana-postgresql-datasource"
# The provisioned data source (dashboards/provisioning/datasources/smartcomplex.yaml) has this uid.
DATASOURCE_UID = "smartcomplex-postgres"
DATASOURCE = DataSourceRef(type_val=POSTGRES_TYPE, uid=DATASOURCE_UID)

QueryFormat = typing.Literal["time_series", "table"]


class SqlQuery(cogvariants.Dataquery):
    def __init__(
        self,
        *,
        ref_id: str = "A",
        raw_sql: str = "",
        format_val: QueryFormat = "table",
        datasource: DataSourceRef | None = None,
        hide: bool | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.format_val = format_val
        self.datasource = datasource
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "editorMode": "code",
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "format": self.format_val,
        }
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload

    @classmethod
    def from_json(cls, data: dict[str, typing.Any]) -> typing.Self:
        datasource = data.get("datasource")
        ref = None
        if isinstance(datasource, dict):
            ref = DataSourceRef.from_json(datasource)
        return cls(
            ref_id=str(data.get("refId", "")),
            raw_sql=str(data.get("rawSql", "")),
            format_val=data.get("format", "table"),
            datasource=ref,
            hide=data.get("hide"),
        )


class SqlQueryBuilder(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, raw_sql: str, *, format_val: QueryFormat, ref_id: str = "A") -> None:
        self._query = SqlQuery(ref_id=ref_id, raw_sql=raw_sql, format_val=format_val, datasource=DATASOURCE)

    def build(self) -> SqlQuery:
        return self._query


def register_sql_query() -> None:
    """Make ``Dashboard.from_json`` read PostgreSQL targets as :class:`SqlQuery` (idempotent)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=POSTGRES_TYPE, from_json_hook=SqlQuery.from_json)
    )
