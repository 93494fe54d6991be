"""The ClickHouse query type ``grafana-foundation-sdk`` does not ship.

It follows the plugin's own ``CHSqlQuery`` (src/types/sql.ts of
grafana/clickhouse-datasource): raw SQL in the SQL editor, with ``format``
telling the backend how to shape the frame (0 time series, 1 table).

>>> import json
>>> from grafana_foundation_sdk.cog.encoder import JSONEncoder
>>> q = ClickHouseQueryBuilder().sql("SELECT 1").table().build()
>>> json.loads(json.dumps(q, cls=JSONEncoder))["format"], q.editor_type
(1, 'sql')
"""

from __future__ import annotations

import typing
from enum import IntEnum

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from grafana.datasource import PLUGIN_VERSION, ref


class Format(IntEnum):
    """The plugin's result formats (``mapQueryTypeToGrafanaFormat``)."""

    TIME_SERIES = 0
    TABLE = 1


class ClickHouseQuery(cogvariants.Dataquery):
    """One SQL query of the ClickHouse plugin."""

    def __init__(self, ref_id: str = "A", raw_sql: str = "", fmt: Format = Format.TABLE) -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.format = fmt
        self.editor_type = "sql"
        self.datasource: DataSourceRef = ref()

    @property
    def query_type(self) -> str:
        return "timeseries" if self.format is Format.TIME_SERIES else "table"

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": self.datasource.to_json(),
            "editorType": self.editor_type,
            "rawSql": self.raw_sql,
            "format": int(self.format),
            "queryType": self.query_type,
            "pluginVersion": PLUGIN_VERSION,
        }


class ClickHouseQueryBuilder(cogbuilder.Builder[ClickHouseQuery]):
    """Builder in the SDK's style: ``ClickHouseQueryBuilder().sql(...).time_series()``."""

    def __init__(self) -> None:
        self._internal = ClickHouseQuery()

    def build(self) -> ClickHouseQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> typing.Self:
        self._internal.ref_id = ref_id
        return self

    def sql(self, raw_sql: str) -> typing.Self:
        self._internal.raw_sql = raw_sql
        return self

    def time_series(self) -> typing.Self:
        self._internal.format = Format.TIME_SERIES
        return self

    def table(self) -> typing.Self:
        self._internal.format = Format.TABLE
        return self
