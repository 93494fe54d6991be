"""Grafana-managed alert rules: a stale layer, a silent device, quarantined records (a warning and a
critical level), incomplete heartbeats, a rule's low pass rate.

Each rule is one ClickHouse query in table format — string columns become
the alert's labels (one alert instance per row), the one numeric column is
reduced and compared with a threshold by Grafana's server-side expressions.
Thresholds are settings (``[alerts]``, :class:`~dataflows.config.AlertSettings`),
with the operations team's defaults. The same rules go to a provisioning file
(:func:`provisioning_file`) and to the HTTP API (:func:`api_rules`); :func:`firing`
evaluates a rule's condition on a query's result as Grafana does (tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dataflows.config import AlertSettings
from grafana.dashboards.data_quality import QUARANTINE_RATE_SQL
from grafana.datasource import DATASOURCE_UID, FOLDER_TITLE, FOLDER_UID, ref_json
from grafana.query import ClickHouseQuery, Format

RULE_GROUP = "scout-stream"
EVALUATE_EVERY = "1m"
#: Seconds without a write after which a layer is stale (gold windows are rewritten less often).
FRESHNESS_LIMIT_S: dict[str, int] = {"bronze": 300, "silver": 300, "gold": 900}


@dataclass(frozen=True)
class AlertRule:
    """One rule: its query (labels + one number), the comparison, and what it tells a person."""

    uid: str
    title: str
    sql: str
    threshold: float
    summary: str
    description: str
    #: the condition: the reduced value is ``above`` (``gt``) or ``below`` (``lt``) the threshold
    fires: Literal["above", "below"] = "above"
    #: the dashboard whose data range the offline check runs the query over (its time column's clock)
    checked_over: str = "scout-data-quality"
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
                    "conditions": [{"evaluator": {"type": self.evaluator, "params": [self.threshold]}}],
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                },
            },
        ]

    @property
    def evaluator(self) -> str:
        return "gt" if self.fires == "above" else "lt"

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


def _completeness_sql() -> str:
    """Heartbeats received over expected per store, over the complete device hours of the range."""
    return (
        "SELECT store_id, sum(heartbeats_received) / nullIf(sum(heartbeats_expected), 0) AS completeness "
        "FROM gold_device_health_summary FINAL WHERE $__timeFilter(window_start) AND window_end <= $__toTime "
        "GROUP BY store_id"
    )


_PASS_RATE_SQL = (
    "SELECT stream, rule, sum(passed) / nullIf(sum(passed + failed), 0) AS pass_rate FROM dq_rule_metrics FINAL "
    "WHERE $__timeFilter(minute) GROUP BY stream, rule"
)


def rules(t: AlertSettings | None = None) -> tuple[AlertRule, ...]:
    """The rule set, with the thresholds of ``t`` (the defaults when ``None``)."""
    t = t or AlertSettings()
    return (
        AlertRule(
            uid="scout-layer-stale",
            title="Scout layer not written",
            sql=_freshness_sql(),
            threshold=0,
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
            threshold=t.offline_after_h,
            summary="{{ $labels.device_id }} in {{ $labels.store_id }} has sent no heartbeat for "
            f"more than {t.offline_after_h:g} h",
            description="Hours since the device's newest heartbeat. Check power and network at the store.",
        ),
        *(
            AlertRule(
                uid=uid,
                title=title,
                sql=QUARANTINE_RATE_SQL,
                threshold=limit,
                window_s=900,
                severity=severity,
                summary=f"More than {limit:.0%} of records were quarantined in the last 15 minutes",
                description="Records quarantined over records read. "
                "See the Data quality dashboard's Quarantine reasons panel.",
            )
            for uid, title, limit, severity in (
                ("scout-quarantine-rate", "Scout quarantine rate critical", t.quarantine_critical, "critical"),
                ("scout-quarantine-rate-warning", "Scout quarantine rate high", t.quarantine_warning, "warning"),
            )
        ),
        AlertRule(
            uid="scout-heartbeat-completeness",
            title="Scout heartbeats incomplete",
            sql=_completeness_sql(),
            threshold=t.completeness_min,
            fires="below",
            window_s=3 * 3600,
            checked_over="scout-device-health",  # event time, as the device-health dashboard
            summary="{{ $labels.store_id }} received less than "
            f"{t.completeness_min:.0%} of its devices' expected heartbeats",
            description="Heartbeats received over expected (from each device's interval) in the store's complete "
            "device hours of the last 3 h, OFFLINE hours included. See the Device health dashboard.",
        ),
        AlertRule(
            uid="scout-rule-pass-rate",
            title="Scout rule pass rate low",
            sql=_PASS_RATE_SQL,
            threshold=t.pass_rate_min,
            fires="below",
            window_s=3600,
            summary="{{ $labels.stream }}: rule {{ $labels.rule }} passed less than "
            f"{t.pass_rate_min:.0%} of its evaluations in the last hour",
            description="The rule's quality score: evaluations passed over all its evaluations "
            "(dq_rule_metrics). See the Data quality dashboard's Rule pass rates panel.",
        ),
    )


RULES = rules()


def firing(rule: AlertRule, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, str]]:
    """The labels of the alert instances that fire on this result, as Grafana decides it: one instance per
    row (its string columns are the labels), the number reduced with ``last`` dropping NULLs (a row with
    none has no data: OK), then the threshold."""
    out = []
    for row in rows:
        labels = {c: v for c, v in zip(columns, row, strict=True) if isinstance(v, str)}
        values = [v for v in row if isinstance(v, int | float) and not isinstance(v, bool)]
        if not values:
            continue
        value = float(values[-1])
        if (value > rule.threshold) if rule.fires == "above" else (value < rule.threshold):
            out.append(labels)
    return out


def api_rules(t: AlertSettings | None = None) -> list[dict[str, Any]]:
    """Rules as ``POST /api/v1/provisioning/alert-rules`` takes them."""
    return [rule.body() | {"folderUID": FOLDER_UID, "ruleGroup": RULE_GROUP, "orgID": 1} for rule in rules(t)]


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


def provisioning_file(t: AlertSettings | None = None) -> dict[str, Any]:
    """Rules as a file in Grafana's ``provisioning/alerting/`` directory (``$`` escaped as ``$$``)."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": RULE_GROUP,
                "folder": FOLDER_TITLE,
                "interval": EVALUATE_EVERY,
                "rules": [escape_dollars(rule.body()) for rule in rules(t)],
            }
        ],
    }
