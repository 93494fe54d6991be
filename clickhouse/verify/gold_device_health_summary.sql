-- key: device_id, window_start
-- Parameters: healthy_ratio, offline_rows_h (OFFLINE hours after a heartbeat hour, at most),
-- clock_skew_ms (the store clock's tolerance) and device_retire_ms (dataflows/gold/store_clock.py).
-- Not recomputed: skewed_heartbeats (each heartbeat is judged against the store's median where it falls
-- among the heartbeats of its batch, which depends on how the input was batched; docs/architecture.md).
WITH
hb AS (
    SELECT device_id, store_id, event_id, toUnixTimestamp64Milli(ts) AS t, intDiv(t, 3600000) * 3600000 AS hour,
           interval_s, cpu_pct, mem_pct, cpu_temp_c, disk_free_mb, outbox_depth, models, sw_version
    FROM (SELECT * FROM bronze_device_heartbeat FINAL WHERE NOT late)
),
per_hour AS (
    SELECT device_id, hour,
           count()                                                  AS received,
           toUInt32(greatest(1, floor(3600 / min(interval_s))))     AS expected,
           avg(cpu_pct)                                             AS cpu_pct_avg,
           max(cpu_pct)                                             AS cpu_pct_max,
           max(mem_pct)                                             AS mem_pct_max,
           max(cpu_temp_c)                                          AS cpu_temp_max,
           min(disk_free_mb)                                        AS disk_free_min_mb,
           max(outbox_depth)                                        AS outbox_depth_max,
           argMax(models, (t, event_id))                            AS model_versions,
           argMax(sw_version, (t, event_id))                        AS sw_version,
           max(t)                                                   AS last_seen
    FROM hb
    GROUP BY device_id, hour
),
-- the store's heartbeat hour (store_clock.py), swept over each device's heartbeat hours in time order:
-- at each step, the newest device heartbeat hour within clock_skew_ms of the lower median of the voting
-- devices (those not more than device_retire_ms behind the store's hour), repeated until it stays put;
-- it only moves forward. The fold's state: (store hour, devices, their newest heartbeat hours).
steps AS (
    SELECT store_id, device_id, hour, min(t) AS first_t FROM hb GROUP BY store_id, device_id, hour
),
store_max AS (
    SELECT store_id, arrayFold(
        (acc, step) -> arrayMap(beats -> (
            arrayFold(
                (h, i) -> greatest(h, arrayMap(voters -> arrayMax(arrayFilter(
                    c -> c - arraySort(voters)[intDiv(length(voters) + 1, 2)] <= {clock_skew_ms:Int64}, voters)),
                    [arrayFilter(b -> b >= h - {device_retire_ms:Int64}, beats)])[1]),
                range(length(beats)), acc.1),
            if(has(acc.2, step.1), acc.2, arrayPushBack(acc.2, step.1)),
            beats),
            [if(has(acc.2, step.1), arrayMap((d, b) -> if(d = step.1, greatest(b, step.2), b), acc.2, acc.3),
                arrayPushBack(acc.3, step.2))])[1],
        arraySort(x -> (x.3, x.1), groupArray((device_id, hour, first_t))),
        (toInt64(-4611686018427387904), CAST([], 'Array(String)'), CAST([], 'Array(Int64)'))
    ).1 AS max_hour
    FROM steps
    GROUP BY store_id
),
devices AS (
    SELECT device_id, any(store_id) AS store_id, arraySort(groupUniqArray(hour)) AS beat_hours,
           arraySort(groupArray((t, event_id, interval_s, models, toString(sw_version)))) AS beats
    FROM hb
    GROUP BY device_id
),
-- each heartbeat hour, then the empty hours after it: up to the next heartbeat hour,
-- at most offline_rows_h of them, never after the store's heartbeat hour (a device whose
-- clock is ahead of it keeps its own heartbeat hours)
grid AS (
    SELECT d.device_id AS device_id, d.store_id AS store_id, d.beats AS beats,
           arrayJoin(arrayFlatten(arrayMap(
               (h, i) -> range(h, greatest(h + 3600000,
                                  least(if(i < length(d.beat_hours), d.beat_hours[i + 1], s.max_hour + 3600000),
                                        h + ({offline_rows_h:Int64} + 1) * 3600000,
                                        s.max_hour + 3600000)), 3600000),
               d.beat_hours, arrayEnumerate(d.beat_hours)))) AS hour
    FROM devices AS d
    INNER JOIN store_max AS s ON s.store_id = d.store_id
)
SELECT g.device_id AS device_id, g.hour AS window_start, g.hour + 3600000 AS window_end, g.store_id AS store_id,
       p.received AS heartbeats_received,
       if(p.received > 0, p.expected,
          if(length(before) > 0, toUInt32(greatest(1, floor(3600 / before[-1].3))), 1)) AS heartbeats_expected,
       if(p.received > 0, least(100., 100. * p.received / p.expected), 0.) AS uptime_pct,
       p.cpu_pct_avg AS cpu_pct_avg, p.cpu_pct_max AS cpu_pct_max, p.mem_pct_max AS mem_pct_max,
       if(p.received > 0, p.cpu_temp_max, NULL) AS cpu_temp_max,
       p.disk_free_min_mb AS disk_free_min_mb, p.outbox_depth_max AS outbox_depth_max,
       if(p.received > 0, p.model_versions, if(length(before) > 0, before[-1].4, map())) AS model_versions,
       if(p.received > 0, p.sw_version, if(length(before) > 0, before[-1].5, '')) AS sw_version,
       if(p.received > 0, p.last_seen, if(length(before) > 0, before[-1].1, NULL)) AS last_seen,
       multiIf(p.received = 0, 'OFFLINE', p.received / p.expected >= {healthy_ratio:Float64}, 'HEALTHY', 'STALE')
           AS status
FROM (SELECT *, arrayFilter(x -> x.1 < hour, beats) AS before FROM grid) AS g
LEFT JOIN per_hour AS p ON p.device_id = g.device_id AND p.hour = g.hour
