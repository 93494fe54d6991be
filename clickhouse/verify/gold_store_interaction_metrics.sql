-- key: store_id, window_start
WITH
activity AS (
    SELECT store_id, hour, uniqExact(device_id) AS active_devices
    FROM
    (
        SELECT store_id, device_id, intDiv(toUnixTimestamp64Milli(ts), 3600000) * 3600000 AS hour FROM (SELECT * FROM bronze_stt_raw FINAL WHERE NOT late)
        UNION ALL
        SELECT store_id, device_id, intDiv(toUnixTimestamp64Milli(ts), 3600000) * 3600000 FROM (SELECT * FROM bronze_visual_stream FINAL WHERE NOT late)
        UNION ALL
        SELECT store_id, device_id, intDiv(toUnixTimestamp64Milli(ts), 3600000) * 3600000 FROM (SELECT * FROM bronze_device_heartbeat FINAL WHERE NOT late)
    )
    GROUP BY store_id, hour
),
visits AS (
    SELECT *, intDiv(started, 3600000) * 3600000 AS hour, (ended - started) / 1000 AS dwell
    FROM verify_sessions
    WHERE n_frames > 0
),
agg AS (
    SELECT store_id, hour,
           count()                                                   AS interactions,
           avg(dwell)                                                AS avg_dwell_s,
           arraySort(groupArray(dwell))[toUInt32(ceil(0.9 * count()))] AS p90_dwell_s,
           countIf(greeted)                                          AS greeted_interactions,
           countIf(n_utt > 0)                                        AS speech_interactions,
           sumIf(sentiment, n_utt > 0)                               AS speech_sentiment,
           sumMap(CAST((brands_mentioned, arrayMap(x -> toUInt32(1), brands_mentioned)), 'Map(String, UInt32)'))
                                                                     AS brand_mentions
    FROM visits
    GROUP BY store_id, hour
)
SELECT a.store_id AS store_id, a.hour AS window_start, a.hour + 3600000 AS window_end,
       g.interactions AS interactions,
       if(g.interactions > 0, g.avg_dwell_s, 0.) AS avg_dwell_s,
       if(g.interactions > 0, g.p90_dwell_s, 0.) AS p90_dwell_s,
       g.greeted_interactions AS greeted_interactions,
       if(g.interactions > 0, g.greeted_interactions / g.interactions, 0.) AS greeted_rate,
       g.speech_interactions AS speech_interactions,
       if(g.interactions > 0, g.speech_interactions / g.interactions, 0.) AS speech_rate,
       g.brand_mentions AS brand_mentions,
       if(g.speech_interactions > 0, g.speech_sentiment / g.speech_interactions, 0.) AS avg_sentiment,
       a.active_devices AS active_devices
FROM activity AS a
LEFT JOIN agg AS g ON g.store_id = a.store_id AND g.hour = a.hour
