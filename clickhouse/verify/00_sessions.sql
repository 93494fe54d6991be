-- Batch recomputation of the silver join from bronze (events marked `late` count in no
-- streamed window, so none of these recomputations reads them): session windows by a
-- sorted sweep (a member starts a new session when it begins more than the
-- gap after the latest end so far). Per-utterance lexicon tags are the
-- stateless annotate() output stored in silver_annotated_events.
-- A device's last sessions are still open in the stream while its watermark
-- (newest stt/visual event time − out-of-orderness) has not passed their end
-- plus the gap. A run that closes them at the end of input (the default without
-- a recovery directory) writes them; a resumable run keeps them open for the
-- next run. So a session counts here when the watermark closed it, or when the
-- stream wrote it (docs/architecture.md, "End of input").
-- Parameters: gap_ms, out_of_orderness_ms.
DROP TABLE IF EXISTS verify_sessions;
CREATE TABLE verify_sessions ENGINE = Memory AS
WITH
device_clock AS (
    SELECT device_id, max(t) AS newest
    FROM (
        SELECT device_id, toUnixTimestamp64Milli(ts) AS t FROM (SELECT * FROM bronze_stt_raw FINAL WHERE NOT late)
        UNION ALL
        SELECT device_id, toUnixTimestamp64Milli(ts) AS t FROM (SELECT * FROM bronze_visual_stream FINAL WHERE NOT late)
    )
    GROUP BY device_id
),
streamed AS (SELECT interaction_id FROM silver_multimodal_aligned FINAL),
tags AS (
    SELECT event_id, greeting, question, brands, sentiment, n_words
    FROM silver_annotated_events FINAL
    WHERE kind = 'utterance'
),
members AS (
    SELECT b.device_id AS device_id, b.store_id AS store_id, b.event_id AS event_id,
           toUnixTimestamp64Milli(b.ts) AS s, s + b.duration_ms AS e, 1 AS is_utt, toUInt16(0) AS people,
           t.greeting AS greeting, t.question AS question, t.brands AS brands,
           t.sentiment AS sentiment, t.n_words AS n_words
    FROM (SELECT * FROM bronze_stt_raw FINAL WHERE NOT late) AS b
    LEFT JOIN tags AS t ON t.event_id = b.event_id
    UNION ALL
    SELECT device_id, store_id, event_id, toUnixTimestamp64Milli(ts) AS s, s AS e, 0 AS is_utt,
           toUInt16(arrayCount(x -> x IN ('face', 'person'), labels)) AS people, false, false,
           arrayMap(x -> substring(x, 7), arrayFilter(x -> startsWith(x, 'brand:'), labels)), 0., toUInt32(0)
    FROM (SELECT * FROM bronze_visual_stream FINAL WHERE NOT late)
    WHERE arrayExists(x -> x IN ('face', 'person'), labels)
),
ordered AS (
    SELECT *,
           max(e) OVER (PARTITION BY device_id ORDER BY s, event_id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end,
           row_number() OVER (PARTITION BY device_id ORDER BY s, event_id) AS rn
    FROM members
),
numbered AS (
    SELECT *,
           sum(if(rn = 1 OR s > prev_end + {gap_ms:Int64}, 1, 0))
               OVER (PARTITION BY device_id ORDER BY s, event_id ROWS UNBOUNDED PRECEDING) AS sid
    FROM ordered
)
SELECT all_sessions.*
FROM (
SELECT
    device_id,
    any(store_id)                                                              AS store_id,
    sid,
    min(s)                                                                     AS started,
    max(e)                                                                     AS ended,
    countIf(is_utt = 1)                                                        AS n_utt,
    countIf(is_utt = 0)                                                        AS n_frames,
    max(people)                                                                AS max_people,
    sumIf(n_words, is_utt = 1)                                                 AS n_words,
    max(greeting)                                                              AS greeted,
    max(question)                                                              AS asked,
    if(n_utt > 0, sumIf(sentiment, is_utt = 1) / n_utt, 0.)                    AS sentiment,
    arraySort(arrayDistinct(arrayFlatten(groupArrayIf(brands, is_utt = 1))))   AS brands_mentioned,
    arraySort(arrayDistinct(arrayFlatten(groupArrayIf(brands, is_utt = 0))))   AS brands_seen,
    argMin(event_id, (s, event_id))                                            AS first_event_id,
    substring(lower(hex(SHA1(concat(device_id, '|', toString(started), '|', first_event_id)))), 1, 16)
                                                                               AS interaction_id
FROM numbered
GROUP BY device_id, sid
) AS all_sessions
INNER JOIN device_clock AS c ON c.device_id = all_sessions.device_id
WHERE all_sessions.ended < c.newest - {out_of_orderness_ms:Int64} - {gap_ms:Int64}
   OR all_sessions.interaction_id IN (SELECT interaction_id FROM streamed);
