-- key: store_id, window_start
WITH tags AS (SELECT event_id, sentiment FROM silver_annotated_events FINAL WHERE kind = 'utterance')
SELECT b.store_id AS store_id, intDiv(toUnixTimestamp64Milli(b.ts), 3600000) * 3600000 AS window_start,
       window_start + 3600000 AS window_end,
       count() AS utterances,
       countIf(t.sentiment > 0) AS positive,
       countIf(t.sentiment = 0) AS neutral,
       countIf(t.sentiment < 0) AS negative,
       avg(t.sentiment) AS avg_sentiment,
       sumMap(map(toString(b.lang), toUInt32(1))) AS language_mix
FROM (SELECT * FROM bronze_stt_raw FINAL WHERE NOT late) AS b
LEFT JOIN tags AS t ON t.event_id = b.event_id
GROUP BY store_id, window_start
