"""``scout grafana build``: every file Grafana's provisioning needs, in one directory.

Layout (mount ``provisioning/`` at ``/etc/grafana/provisioning`` and
``dashboards/`` where the provider's ``path`` says)::

    dashboards/<uid>.json
    provisioning/datasources/scout-clickhouse.yaml
    provisioning/dashboards/scout.yaml
    provisioning/alerting/scout-alerts.yaml
    provisioning/alerting/scout-notifications.yaml   (contact points, notification policy)

The datasource file names the read-only user and reads its password from
``$SCOUT_CH_GRAFANA_PASSWORD`` in Grafana's environment (Grafana expands
environment variables in provisioning files); no secret is ever written. The same holds for the
contact points' addresses and webhook URLs (:mod:`grafana.notifications`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dataflows.config import AlertSettings
from grafana.alerts import provisioning_file
from grafana.dashboards import build_all
from grafana.datasource import FOLDER_TITLE, FOLDER_UID, PASSWORD_ENV, datasource_json
from grafana.notifications import notifications_file

DASHBOARDS_PATH = "/var/lib/grafana/dashboards/scout"


@dataclass(frozen=True)
class ClickHouseEndpoint:
    """Where Grafana reaches ClickHouse (the plugin's HTTP or native protocol)."""

    host: str = "clickhouse"
    port: int = 8123
    protocol: str = "http"
    secure: bool = False
    database: str = "default"


def datasource_file(endpoint: ClickHouseEndpoint) -> dict[str, Any]:
    ds = datasource_json(
        endpoint.host, endpoint.port, protocol=endpoint.protocol, secure=endpoint.secure, database=endpoint.database
    )
    ds["orgId"] = 1
    ds["editable"] = False
    ds["secureJsonData"] = {"password": f"${PASSWORD_ENV}"}
    return {"apiVersion": 1, "datasources": [ds]}


def provider_file(path: str = DASHBOARDS_PATH) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "scout-stream",
                "orgId": 1,
                "folder": FOLDER_TITLE,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }


def build(out: Path, endpoint: ClickHouseEndpoint | None = None, alerts: AlertSettings | None = None) -> list[Path]:
    """Write dashboards and provisioning files under ``out`` (alert thresholds and channels from ``alerts``);
    returns the paths written."""
    endpoint = endpoint or ClickHouseEndpoint()
    files: dict[Path, str] = {}
    for dashboard in build_all():
        files[out / "dashboards" / f"{dashboard['uid']}.json"] = json.dumps(dashboard, indent=2) + "\n"
    prov = out / "provisioning"
    for path, content in (
        (prov / "datasources" / "scout-clickhouse.yaml", datasource_file(endpoint)),
        (prov / "dashboards" / "scout.yaml", provider_file()),
        (prov / "alerting" / "scout-alerts.yaml", provisioning_file(alerts)),
        (prov / "alerting" / "scout-notifications.yaml", notifications_file(alerts)),
    ):
        files[path] = yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(files)
