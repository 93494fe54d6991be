"""*Edge models*: which model versions run where, and how many devices run each.

Reads the ``model_versions`` map (model kind → version) that each device
reports in its heartbeats, as kept per device-hour in
``gold_device_health_summary``. Heartbeats carry no inference latency or
real-time factor today, so this dashboard has no latency panel (see
grafana/README.md).
"""

from __future__ import annotations

from typing import Any

from grafana.dashboards.common import STORE_FILTER, dashboard, models_text, row, store_variable, to_json
from grafana.panels import GOLD_INTERVAL, bars, rows, time_series

UID = "scout-edge-models"
HEALTH = "gold_device_health_summary"
WHERE = f"WHERE $__timeFilter(window_start) AND {STORE_FILTER} AND heartbeats_received > 0"
#: The time range the data itself covers (the preview and the checks show it).
DATA_RANGE_SQL = f"SELECT min(window_start), max(window_end) FROM {HEALTH}"
#: Each device's newest model map in the range.
LATEST = (
    "SELECT store_id, device_id, argMax(model_versions, window_start) AS m, argMax(sw_version, window_start) AS sw "
    f"FROM {HEALTH} FINAL {WHERE} GROUP BY store_id, device_id"
)


def build() -> dict[str, Any]:
    d = (
        dashboard(UID, "Scout · Edge models", "Model and software versions deployed per store and device")
        .with_variable(store_variable(HEALTH))
        .with_row(row("Versions"))
        .with_panel(
            bars(
                "Devices on each model version",
                "Devices whose newest heartbeat in the range reports each model kind and version.",
                f"SELECT concat(kind, ' ', version) AS model, count() AS devices FROM ({LATEST}) "
                "ARRAY JOIN mapKeys(m) AS kind, mapValues(m) AS version GROUP BY model ORDER BY model",
                "model",
            )
        )
        .with_panel(
            bars(
                "Devices on each agent version",
                "Devices whose newest heartbeat in the range reports each edge agent (software) version.",
                f"SELECT if(sw = '', 'unknown', sw) AS agent_version, count() AS devices FROM ({LATEST}) "
                "GROUP BY agent_version ORDER BY agent_version",
                "agent_version",
            )
        )
        .with_panel(
            rows(
                "Versions deployed per store",
                "Per store, model kind and version: how many devices run it and which.",
                f"SELECT store_id, kind, version, count() AS devices, "
                f"arrayStringConcat(arraySort(groupArray(device_id)), ', ') AS device_ids FROM ({LATEST}) "
                "ARRAY JOIN mapKeys(m) AS kind, mapValues(m) AS version "
                "GROUP BY store_id, kind, version ORDER BY store_id, kind, version",
                width=12,
            )
        )
        .with_panel(
            rows(
                "Models per device",
                "Each device's newest models and agent version in the range.",
                f"SELECT device_id, store_id, sw AS agent_version, {models_text('m')} AS models FROM ({LATEST}) "
                "ORDER BY store_id, device_id",
                width=12,
            )
        )
        .with_row(row("Rollout over time"))
        .with_panel(
            time_series(
                "Devices per model version",
                "Devices reporting each model kind and version, per hour: a rollout shows as one line "
                "rising while another falls.",
                "SELECT $__timeInterval(window_start) AS time, concat(kind, ' ', version) AS model, "
                f"uniqExact(device_id) AS devices FROM {HEALTH} FINAL "
                f"ARRAY JOIN mapKeys(model_versions) AS kind, mapValues(model_versions) AS version {WHERE} "
                "GROUP BY time, model ORDER BY time",
                "short",
                interval=GOLD_INTERVAL,
                width=24,
            )
        )
    )
    return to_json(d)
