"""Each alert rule's condition, evaluated on data built to fire it and on data built not to.

The rule's own SQL runs on chDB (macros expanded for the rule's window ending now), and
:func:`grafana.alerts.firing` applies Grafana's reduce (last, NULLs dropped) and threshold. What this
does not cover: Grafana's own evaluation and its ``for`` (pending) period — no Grafana server runs here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from clickhouse_connect.driver.client import Client

from dataflows.config import AlertSettings
from dataflows.warehouse import connect, migrate
from grafana.alerts import RULES, AlertRule, firing, rules
from grafana.macros import TimeRange, expand
from grafana.notifications import CHANNEL_ENV, notifications_file
from grafana.panel_data import run_sql
from grafana.provisioning import build

BY_UID = {rule.uid: rule for rule in RULES}
_TABLES = ("pipeline_freshness", "quarantine_events", "bronze_stt_raw", "gold_device_health_summary",
           "dq_rule_metrics")  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    client = connect(f"chdb://{tmp_path_factory.mktemp('alerts') / 'ch'}", create=True)
    migrate(client)
    yield client
    client.close()


def _fires(client: Client, rule: AlertRule, *statements: str) -> list[dict[str, str]]:
    """Empty the tables, run ``statements``, evaluate ``rule`` over its window ending now."""
    for table in _TABLES:
        client.command(f"TRUNCATE TABLE {table}")
    for statement in statements:
        client.command(statement)
    now = datetime.now(UTC)
    frame = run_sql(client, expand(rule.sql, TimeRange.of(now - timedelta(seconds=rule.window_s), now)))
    return firing(rule, frame.columns, frame.rows)


def _freshness(minutes_ago: int) -> str:
    at = f"now64(3) - INTERVAL {minutes_ago} MINUTE"
    return (
        "INSERT INTO pipeline_freshness (layer, stream, newest_event_ts, newest_ingest_ts, rows_written) "
        f"VALUES ('bronze', 'stt', {at}, {at}, 1)"
    )


def _records(quarantined: int, accepted: int) -> list[str]:
    return [
        "INSERT INTO quarantine_events (topic, partition, offset, quarantined_at) "
        f"SELECT 'eh-pi-stt', 0, number, now64(3) - INTERVAL 1 MINUTE FROM numbers({quarantined})",
        "INSERT INTO bronze_stt_raw (event_id, store_id, device_id, ts, ingested_at) "
        f"SELECT toString(number), 'STORE-1', 'PI-1', now64(3), now64(3) - INTERVAL 1 MINUTE FROM numbers({accepted})",
    ]


def _device_hours(received: int, last_seen_minutes_ago: int = 10) -> str:
    """Two complete hours of one device, ``received`` of 120 heartbeats each."""
    return (
        "INSERT INTO gold_device_health_summary (device_id, window_start, window_end, store_id, "
        "heartbeats_received, heartbeats_expected, last_seen, status, version) "
        "SELECT 'PI-1', toStartOfHour(now64(3)) - INTERVAL (number + 1) HOUR, "
        f"toStartOfHour(now64(3)) - INTERVAL number HOUR, 'STORE-1', {received}, 120, "
        f"now64(3) - INTERVAL {last_seen_minutes_ago} MINUTE, 'HEALTHY', 1 FROM numbers(2)"
    )


def _rule_counts(passed: int, failed: int) -> str:
    return (
        "INSERT INTO dq_rule_metrics (minute, stream, rule, action, scope, block, passed, failed, version) "
        f"VALUES (now64(3) - INTERVAL 5 MINUTE, 'stt', 'json_parse', 'drop', 'eh-pi-stt/0', 0, {passed}, {failed}, "
        f"{passed + failed})"
    )


@pytest.mark.parametrize(
    ("uid", "firing_data", "quiet_data", "labels"),
    [
        ("scout-layer-stale", [_freshness(10)], [_freshness(1)], {"layer": "bronze", "stream": "stt"}),
        ("scout-device-offline", [_device_hours(120, last_seen_minutes_ago=180)], [_device_hours(120)],
         {"device_id": "PI-1", "store_id": "STORE-1"}),
        ("scout-quarantine-rate", _records(10, 90), _records(3, 97), {}),
        ("scout-quarantine-rate-warning", _records(3, 97), _records(1, 199), {}),
        ("scout-heartbeat-completeness", [_device_hours(110)], [_device_hours(119)], {"store_id": "STORE-1"}),
        ("scout-rule-pass-rate", [_rule_counts(90, 10)], [_rule_counts(99, 1)],
         {"stream": "stt", "rule": "json_parse"}),
    ],
)  # fmt: skip
def test_a_rule_fires_on_data_built_to_fire_it_and_not_otherwise(
    warehouse: Client, uid: str, firing_data: list[str], quiet_data: list[str], labels: dict[str, str]
) -> None:
    rule = BY_UID[uid]
    assert _fires(warehouse, rule, *firing_data) == [labels]
    assert _fires(warehouse, rule, *quiet_data) == []


def test_every_rule_is_tested_above() -> None:
    tested = {"scout-layer-stale", "scout-device-offline", "scout-quarantine-rate", "scout-quarantine-rate-warning",
              "scout-heartbeat-completeness", "scout-rule-pass-rate"}  # fmt: skip
    assert set(BY_UID) == tested


def test_thresholds_come_from_the_settings() -> None:
    strict = {r.uid: r for r in rules(AlertSettings(quarantine_warning=0.002, completeness_min=0.999))}
    assert strict["scout-quarantine-rate-warning"].threshold == 0.002
    assert strict["scout-heartbeat-completeness"].threshold == 0.999
    assert strict["scout-heartbeat-completeness"].body()["data"][2]["model"]["conditions"][0]["evaluator"] == {
        "type": "lt", "params": [0.999]}  # fmt: skip
    assert {r.severity for r in RULES} == {"critical", "warning"}


def test_contact_points_route_by_severity_and_hold_no_secret(tmp_path: Path) -> None:
    build(tmp_path)
    provisioned = yaml.safe_load((tmp_path / "provisioning/alerting/scout-notifications.yaml").read_text())
    assert provisioned == notifications_file()
    points = {p["name"]: p for p in provisioned["contactPoints"]}
    assert set(points) == {"scout-critical", "scout-warning", "scout-info"}
    kinds = {name: sorted(r["type"] for r in p["receivers"]) for name, p in points.items()}
    assert kinds == {"scout-critical": ["email", "slack", "teams"], "scout-warning": ["email", "slack"],
                     "scout-info": ["email"]}  # fmt: skip
    for point in points.values():  # every address and URL is an environment variable Grafana expands
        for receiver in point["receivers"]:
            [value] = receiver["settings"].values()
            assert value in {f"${env}" for _kind, _setting, env in CHANNEL_ENV.values()}
    [policy] = provisioned["policies"]
    routed = {route["object_matchers"][0][2]: route["receiver"] for route in policy["routes"]}
    assert routed == {"critical": "scout-critical", "warning": "scout-warning", "info": "scout-info"}
    assert {r.severity for r in RULES} <= set(routed)
    only_email = notifications_file(AlertSettings(channels=["email"]))
    assert {r["type"] for p in only_email["contactPoints"] for r in p["receivers"]} == {"email"}
