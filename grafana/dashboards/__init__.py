"""The four Scout dashboards, each built by one module.

>>> [d["uid"] for d in build_all()]
['scout-store-interactions', 'scout-device-health', 'scout-data-quality', 'scout-edge-models']
"""

from __future__ import annotations

from typing import Any

from grafana.dashboards import data_quality, device_health, edge_models, store_interactions

MODULES = (store_interactions, device_health, data_quality, edge_models)


def data_range_sql() -> dict[str, str]:
    """Per dashboard uid, SQL giving the (start, end) its data covers: the preview's time range."""
    return {m.UID: m.DATA_RANGE_SQL for m in MODULES}


def build_all() -> list[dict[str, Any]]:
    """Every dashboard as the JSON Grafana stores."""
    return [m.build() for m in MODULES]
