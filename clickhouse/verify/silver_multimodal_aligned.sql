-- key: interaction_id
SELECT interaction_id, store_id, device_id, started AS started_at, ended AS ended_at, ended - started AS duration_ms,
       n_utt AS n_utterances, n_frames, max_people, n_words, brands_mentioned, brands_seen,
       greeted, asked, sentiment, n_utt > 0 AS has_speech, n_frames > 0 AS has_vision
FROM verify_sessions
