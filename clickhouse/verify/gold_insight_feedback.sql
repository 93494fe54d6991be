-- key: store_id, day, insight_type
-- Parameters: tz.
SELECT store_id,
       toDate(fromUnixTimestamp64Milli(toUnixTimestamp64Milli(ts), {tz:String})) AS day,
       insight_type,
       toUnixTimestamp(toStartOfDay(fromUnixTimestamp64Milli(toUnixTimestamp64Milli(ts), {tz:String}))) * 1000
           AS window_start,
       toUnixTimestamp(toDateTime(day + 1, {tz:String})) * 1000 AS window_end,  -- 23 h or 25 h on a DST day
       countIf(action = 'accepted') AS accepted,
       countIf(action = 'dismissed') AS dismissed,
       countIf(action = 'snoozed') AS snoozed,
       accepted / count() AS acceptance_rate
FROM (SELECT * FROM bronze_insight_feedback FINAL WHERE NOT late)
GROUP BY store_id, day, insight_type, window_start
