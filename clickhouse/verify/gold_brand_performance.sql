-- key: store_id, day, brand
-- Parameters: tz (the zone whose midnight starts a day).
WITH
tags AS (SELECT event_id, brands FROM silver_annotated_events FINAL WHERE kind = 'utterance'),
facts AS (
    SELECT b.store_id AS store_id, toUnixTimestamp64Milli(b.ts) AS t, arrayJoin(t2.brands) AS brand,
           1 AS mentions, 0 AS sightings, 0 AS interactions
    FROM (SELECT * FROM bronze_stt_raw FINAL WHERE NOT late) AS b
    INNER JOIN tags AS t2 ON t2.event_id = b.event_id
    UNION ALL
    SELECT store_id, toUnixTimestamp64Milli(ts), substring(arrayJoin(arrayFilter(x -> startsWith(x, 'brand:'), labels)), 7),
           0, 1, 0
    FROM (SELECT * FROM bronze_visual_stream FINAL WHERE NOT late)
    UNION ALL
    SELECT store_id, started, arrayJoin(arrayDistinct(arrayConcat(brands_mentioned, brands_seen))), 0, 0, 1
    FROM verify_sessions
    WHERE n_frames > 0
)
SELECT store_id,
       toDate(fromUnixTimestamp64Milli(t, {tz:String})) AS day,
       brand,
       toUnixTimestamp(toStartOfDay(fromUnixTimestamp64Milli(t, {tz:String}))) * 1000 AS window_start,
       toUnixTimestamp(toDateTime(day + 1, {tz:String})) * 1000 AS window_end,  -- 23 h or 25 h on a DST day
       sum(mentions) AS mentions, sum(sightings) AS sightings, sum(interactions) AS interactions
FROM facts
GROUP BY store_id, day, brand, window_start
