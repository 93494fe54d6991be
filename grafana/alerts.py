"""Grafana-managed alert rules: a stale layer, a silent device, too many quarantined records.

Each rule is one ClickHouse query in table format — string columns become
the alert's labels (one alert instance per row), the one numeric column is
reduced and compared with a threshold by Grafana's server-side expressions.
The same rules go to a provisioning file (:func:`provisioning_file`) and to
the HTTP API (:func:`api_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafana.dashboards.data_quality import QUARANTINE_RATE_SQL
from grafana.datasource import DATASOURCE_UID, FOLDER_TITLE, FOLDER_UID, ref_json
from grafana.query import ClickHouseQuery, Format

RULE_GROUP = "scout-stream"
EVALUATE_EVERY = "1m"
#: Seconds without a write after which a layer is stale (gold windows are rewritten less often).
FRESHNESS_LIMIT_S: dict[str, int] = {"bronze": 300, "silver": 300, "gold": 900}
#: Hours without a heartbeat after which a device is reported offline.
OFFLINE_AFTER_H = 2
#: Share of records quarantined (last 15 minutes) above which the pipeline alerts.
QUARANTINE_RATE_LIMIT = 0.05


@dataclass(frozen=True)
class AlertRule:
    """One rule: its query (labels + one number), the comparison, and what it tells a person."""

    uid: str
    title: str
    sql: str
    above: float
    summary: str
    description: str
    window_s: int = 600
    pending: str = "5m"
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)

    def data(self) -> list[dict[str, Any]]:
        query = ClickHouseQuery(ref_id="A", raw_sql=self.sql, fmt=Format.TABLE).to_json()
        return [
            {
                "refId": "A",
                "relativeTimeRange": {"from": self.window_s, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": query | {"datasource": ref_json(), "intervalMs": 60000, "maxDataPoints": 43200},
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "type": "reduce",
                    "expression": "A",
                    "reducer": "last",
                    "settings": {"mode": "dropNN"},
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                },
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [self.above]}}],
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                },
            },
        ]

    def body(self) -> dict[str, Any]:
        """The rule's fields shared by the provisioning file and the API."""
        return {
            "uid": self.uid,
            "title": self.title,
            "condition": "C",
            "data": self.data(),
            "noDataState": "OK",
            "execErrState": "Error",
            "for": self.pending,
            "annotations": {"summary": self.summary, "description": self.description},
            "labels": {"team": "scout-stream", "severity": self.severity, **self.labels},
            "isPaused": False,
        }


def _freshness_sql() -> str:
    limits = ", ".join(f"layer = '{layer}', {limit}" for layer, limit in FRESHNESS_LIMIT_S.items())
    layers = ", ".join(f"'{layer}'" for layer in FRESHNESS_LIMIT_S)
    return (
        f"SELECT layer, stream, since_ingest_s - multiIf({limits}, 300) AS seconds_over_limit "
        f"FROM pipeline_freshness_status WHERE layer IN ({layers})"
    )


RULES: tuple[AlertRule, ...] = (
    AlertRule(
        uid="scout-layer-stale",
        title="Scout layer not written",
        sql=_freshness_sql(),
        above=0,
        summary="{{ $labels.layer }}/{{ $labels.stream }} has not been written for longer than its limit",
        description="Seconds since the last write minus the layer's limit "
        + ", ".join(f"{k} {v} s" for k, v in FRESHNESS_LIMIT_S.items())
        + ". Is the dataflow running, and is the source delivering?",
        severity="critical",
    ),
    AlertRule(
        uid="scout-device-offline",
        title="Scout device offline",
        sql="SELECT device_id, any(store_id) AS store_id, "
        "dateDiff('second', max(last_seen), now64(3)) / 3600 AS hours_silent "
        "FROM gold_device_health_summary FINAL WHERE heartbeats_received > 0 GROUP BY device_id",
        above=OFFLINE_AFTER_H,
        summary="{{ $labels.device_id }} in {{ $labels.store_id }} has sent no heartbeat for "
        f"more than {OFFLINE_AFTER_H} h",
        description="Hours since the device's newest heartbeat. Check power and network at the store.",
    ),
    AlertRule(
        uid="scout-quarantine-rate",
        title="Scout quarantine rate high",
        sql=QUARANTINE_RATE_SQL,
        above=QUARANTINE_RATE_LIMIT,
        window_s=900,
        summary=f"More than {QUARANTINE_RATE_LIMIT:.0%} of records were quarantined in the last 15 minutes",
        description="Records quarantined over records read. See the Data quality dashboard's "
        "Quarantine reasons panel for the rule and an example.",
    ),
)


def api_rules() -> list[dict[str, Any]]:
    """Rules as ``POST /api/v1/provisioning/alert-rules`` takes them."""
    return [rule.body() | {"folderUID": FOLDER_UID, "ruleGroup": RULE_GROUP, "orgID": 1} for rule in RULES]


def escape_dollars(value: Any) -> Any:
    """Every ``$`` doubled in every string: Grafana expands ``$NAME`` in provisioning files, and ``$$``
    is its escape, so the plugin's macros and the ``$labels`` of annotations arrive intact.

    >>> escape_dollars({"sql": "WHERE $__timeFilter(ts)", "n": 1})
    {'sql': 'WHERE $$__timeFilter(ts)', 'n': 1}
    """
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


def provisioning_file() -> dict[str, Any]:
    """Rules as a file in Grafana's ``provisioning/alerting/`` directory (``$`` escaped as ``$$``)."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": RULE_GROUP,
                "folder": FOLDER_TITLE,
                "interval": EVALUATE_EVERY,
                "rules": [escape_dollars(rule.body()) for rule in RULES],
            }
        ],
    }
