"""The one ClickHouse datasource every panel, variable and alert rule uses.

Its uid, plugin id and name are defined here once; dashboards, provisioning
files, alert rules and the push all import them.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models.dashboard import DataSourceRef

#: The Grafana version the dashboards are built for (the SDK build and the JSON schema follow it).
GRAFANA_VERSION = "11.6.0"
#: The ClickHouse plugin and the version the queries are written for (its grafanaDependency: >=11.6.0).
PLUGIN_ID = "grafana-clickhouse-datasource"
PLUGIN_VERSION = "4.20.0"
DATASOURCE_UID = "scout-clickhouse"
DATASOURCE_NAME = "Scout ClickHouse"
#: The folder every Scout dashboard and alert rule lives in.
FOLDER_UID = "scout-stream"
FOLDER_TITLE = "Scout stream"
#: Grafana's provisioning files read the read-only user's password from this environment variable.
PASSWORD_ENV = "SCOUT_CH_GRAFANA_PASSWORD"
READONLY_USER = "scout_grafana"


def ref() -> DataSourceRef:
    """The reference panels and queries carry."""
    return DataSourceRef(type_val=PLUGIN_ID, uid=DATASOURCE_UID)


def ref_json() -> dict[str, str]:
    """:func:`ref` as JSON."""
    return {"type": PLUGIN_ID, "uid": DATASOURCE_UID}


def datasource_json(
    host: str, port: int, *, protocol: str = "http", secure: bool = False, database: str = "default"
) -> dict[str, Any]:
    """The datasource object (API and provisioning share it), without its secret.

    >>> ds = datasource_json("clickhouse.internal", 8443, secure=True)
    >>> ds["type"], ds["uid"], ds["jsonData"]["username"], ds["jsonData"]["secure"]
    ('grafana-clickhouse-datasource', 'scout-clickhouse', 'scout_grafana', True)
    """
    return {
        "name": DATASOURCE_NAME,
        "uid": DATASOURCE_UID,
        "type": PLUGIN_ID,
        "access": "proxy",
        "isDefault": False,
        "jsonData": {
            "host": host,
            "port": port,
            "protocol": protocol,
            "secure": secure,
            "username": READONLY_USER,
            "defaultDatabase": database,
            "version": PLUGIN_VERSION,
        },
    }
