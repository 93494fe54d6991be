"""*Device health & fleet*: is every Pi reporting, and is any running hot, full or backed up?

Reads ``gold_device_health_summary`` (one row per device-hour, ``FINAL``):
status ``HEALTHY`` (≥ 80 % of expected heartbeats), ``STALE`` (fewer) or
``OFFLINE`` (none, in the hours after a device's last heartbeat).
"""

from __future__ import annotations

from typing import Any

from grafana.dashboards.common import STORE_FILTER, dashboard, models_text, row, store_variable, to_json
from grafana.panels import BAD, GOLD_INTERVAL, GOOD, WARN, big_number, lower_is_better, rows, states, time_series

UID = "scout-device-health"
HEALTH = "gold_device_health_summary"
WHERE = f"WHERE $__timeFilter(window_start) AND {STORE_FILTER}"
#: The time range the data itself covers (the preview and the checks show it).
DATA_RANGE_SQL = f"SELECT min(window_start), max(window_end) FROM {HEALTH}"
#: The device-hour statuses the gold stage writes, as codes for the state timeline.
STATUS_CODES: dict[int, tuple[str, str]] = {0: ("HEALTHY", GOOD), 1: ("STALE", WARN), 2: ("OFFLINE", BAD)}
STATUS_CODE_SQL = "multiIf(status = 'HEALTHY', 0, status = 'STALE', 1, 2)"


def build() -> dict[str, Any]:
    d = (
        dashboard(UID, "Scout · Device health & fleet", "Per-device status, heartbeats, temperature, disk, outbox")
        .with_variable(store_variable(HEALTH))
        .with_row(row("Fleet"))
        .with_panel(
            big_number(
                "Devices offline or stale now",
                "Devices whose newest hour in the range is not HEALTHY. Red from one.",
                f"SELECT countIf(latest != 'HEALTHY') AS devices FROM (SELECT device_id, "
                f"argMax(status, window_start) AS latest FROM {HEALTH} FINAL {WHERE} GROUP BY device_id)",
                "short",
                lower_is_better(0.5, 1),
            )
        )
        .with_panel(
            big_number(
                "Heartbeats received / expected",
                "All heartbeats received over all expected in the range (expected from each device's interval).",
                f"SELECT sum(heartbeats_received) / nullIf(sum(heartbeats_expected), 0) AS ratio "
                f"FROM {HEALTH} FINAL {WHERE}",
                "percentunit",
                [(None, BAD), (0.8, WARN), (0.95, GOOD)],
            )
        )
        .with_panel(
            big_number(
                "Hottest CPU",
                "Highest CPU temperature any device reported. Orange from 70 °C, red from 80 °C (the gold HOT limit).",
                f"SELECT max(cpu_temp_max) AS cpu_temp_c FROM {HEALTH} FINAL {WHERE}",
                "celsius",
                lower_is_better(70, 80),
            )
        )
        .with_panel(
            big_number(
                "Lowest free disk",
                "Least free disk any device reported. Red below 500 MB (the gold low-disk limit).",
                f"SELECT min(disk_free_min_mb) AS disk_free_mb FROM {HEALTH} FINAL {WHERE} AND heartbeats_received > 0",
                "decmbytes",
                [(None, BAD), (500, WARN), (2000, GOOD)],
            )
        )
        .with_panel(
            rows(
                "Devices needing attention first",
                "One row per device: newest status, when it was last seen (minutes before the end of the range), "
                "heartbeats from a clock outside its store's tolerance (clock_skew), its software and model "
                "versions. OFFLINE and STALE first, then the longest silent.",
                "SELECT device_id, any(store_id) AS store, argMax(status, window_start) AS newest_status, "
                "max(last_seen) AS newest_heartbeat, dateDiff('minute', max(last_seen), $__toTime) AS minutes_silent, "
                "sum(skewed_heartbeats) AS clock_skewed_heartbeats, "
                "argMax(sw_version, window_start) AS agent_version, "
                f"{models_text('argMax(model_versions, window_start)')} AS models "
                f"FROM {HEALTH} FINAL {WHERE} GROUP BY device_id "
                "ORDER BY newest_status = 'HEALTHY', minutes_silent DESC, device_id",
                "none",
                height=8,
            )
        )
        .with_row(row("Per device over time"))
        .with_panel(
            states(
                "Status per device and hour",
                "Each device-hour: HEALTHY (≥ 80 % of expected heartbeats), STALE (fewer), OFFLINE (none).",
                f"SELECT window_start AS time, device_id, {STATUS_CODE_SQL} AS status "
                f"FROM {HEALTH} FINAL {WHERE} ORDER BY time",
                STATUS_CODES,
            )
        )
        .with_panel(
            time_series(
                "Heartbeats received vs expected",
                "All selected devices' heartbeats per interval, against what their intervals promise.",
                f"SELECT $__timeInterval(window_start) AS time, sum(heartbeats_received) AS received, "
                f"sum(heartbeats_expected) AS expected FROM {HEALTH} FINAL {WHERE} GROUP BY time ORDER BY time",
                "short",
                interval=GOLD_INTERVAL,
            )
        )
        .with_panel(
            time_series(
                "CPU temperature (max)",
                "Hottest reading per device and interval; orange from 70 °C, red from 80 °C.",
                f"SELECT $__timeInterval(window_start) AS time, device_id, max(cpu_temp_max) AS cpu_temp_c "
                f"FROM {HEALTH} FINAL {WHERE} AND heartbeats_received > 0 GROUP BY time, device_id ORDER BY time",
                "celsius",
                lower_is_better(70, 80),
                interval=GOLD_INTERVAL,
            )
        )
        .with_panel(
            time_series(
                "Free disk (min)",
                "Least free disk per device and interval; red below 500 MB.",
                f"SELECT $__timeInterval(window_start) AS time, device_id, min(disk_free_min_mb) AS disk_free_mb "
                f"FROM {HEALTH} FINAL {WHERE} AND heartbeats_received > 0 GROUP BY time, device_id ORDER BY time",
                "decmbytes",
                [(None, BAD), (500, GOOD)],
                interval=GOLD_INTERVAL,
            )
        )
        .with_panel(
            time_series(
                "Outbox depth (max)",
                "Events waiting on the device to be published; red from 1,000 (the gold backlog limit).",
                f"SELECT $__timeInterval(window_start) AS time, device_id, max(outbox_depth_max) AS outbox_depth "
                f"FROM {HEALTH} FINAL {WHERE} AND heartbeats_received > 0 GROUP BY time, device_id ORDER BY time",
                "short",
                lower_is_better(100, 1000),
                interval=GOLD_INTERVAL,
            )
        )
    )
    return to_json(d)
