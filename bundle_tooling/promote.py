"""Promotion by canary health: read what the canary devices reported, through the dataflow, in ClickHouse.

The canary devices of a version are the devices whose heartbeats report it
(``models[<kind key>] = name@version``). A promotion is granted only when:

* at least ``min_devices`` devices report it (a silent canary refuses);
* each has reported it for at least ``healthy_for_h`` hours (first to last heartbeat with it);
* each device's newest heartbeat is at most ``max_silence_h`` hours before ``as_of``;
* none of those heartbeats is unhealthy — silver status other than ``OK``
  (hot, low disk, backlog) or the device's own ``degraded``;
* none of the device's gold hours since it took the version is STALE or
  OFFLINE (the hour of its newest heartbeat, still filling, is not judged).

Every query is parameterised; nothing is formatted into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

CANARIES = """
SELECT device_id, any(store_id) AS store_id, min(ts) AS first_seen, max(ts) AS last_seen, count() AS heartbeats,
       countIf(status != 'OK') AS unhealthy
FROM silver_device_heartbeat FINAL
WHERE models[{key:String}] = {label:String}
GROUP BY device_id ORDER BY device_id
"""
DEGRADED = """
SELECT device_id, countIf(JSONExtractString(payload, 'status') = 'degraded') AS degraded
FROM bronze_device_heartbeat FINAL
WHERE NOT late AND models[{key:String}] = {label:String}
GROUP BY device_id
"""
BAD_HOURS = """
SELECT device_id, countIf(status != 'HEALTHY') AS bad_hours, count() AS hours
FROM gold_device_health_summary FINAL
WHERE device_id = {device:String}
  AND window_start >= toStartOfHour({first:DateTime64(3, 'UTC')})
  AND window_start != toStartOfHour({last:DateTime64(3, 'UTC')})
GROUP BY device_id
"""


@dataclass
class CanaryReport:
    label: str
    devices: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def granted(self) -> bool:
        return not self.reasons


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def canary_health(
    client: Client,
    key: str,
    label: str,
    *,
    healthy_for_h: float,
    min_devices: int = 1,
    max_silence_h: float = 2.0,
    as_of: datetime | None = None,
) -> CanaryReport:
    """Whether ``label`` (``name@version``) may be promoted, and why not."""
    as_of = as_of or datetime.now(UTC)
    report = CanaryReport(label)
    params = {"key": key, "label": label}
    rows = client.query(CANARIES, parameters=params)
    devices = [dict(zip(rows.column_names, r, strict=True)) for r in rows.result_rows]
    degraded = {r[0]: r[1] for r in client.query(DEGRADED, parameters=params).result_rows}
    if len(devices) < min_devices:
        report.reasons.append(f"{len(devices)} device(s) report {label}; at least {min_devices} needed (silent canary)")
    for d in devices:
        first, last = _utc(d["first_seen"]), _utc(d["last_seen"])
        hours = client.query(BAD_HOURS, parameters={"device": d["device_id"], "first": first, "last": last})
        bad_hours = hours.result_rows[0][1] if hours.result_rows else 0
        d |= {"degraded": degraded.get(d["device_id"], 0), "bad_hours": bad_hours}
        d["hours_on_version"] = round((last - first).total_seconds() / 3600, 2)
        report.devices.append(d)
        who = d["device_id"]
        if d["hours_on_version"] < healthy_for_h:
            report.reasons.append(f"{who}: {d['hours_on_version']} h on {label}, {healthy_for_h} h needed")
        if (silent := (as_of - last).total_seconds() / 3600) > max_silence_h:
            report.reasons.append(f"{who}: silent for {silent:.1f} h (newest heartbeat {last:%Y-%m-%d %H:%M} UTC)")
        if d["unhealthy"]:
            report.reasons.append(f"{who}: {d['unhealthy']} heartbeat(s) hot, low on disk or backlogged")
        if d["degraded"]:
            report.reasons.append(f"{who}: {d['degraded']} heartbeat(s) reported degraded")
        if bad_hours:
            report.reasons.append(f"{who}: {bad_hours} hour(s) STALE or OFFLINE since it took {label}")
    return report
