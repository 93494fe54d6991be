"""*Store interactions*: what happened at the counters, per store or for the chain.

Reads ``gold_store_interaction_metrics``, ``gold_transcript_sentiment_analysis``,
``gold_brand_performance`` (hourly windows, ``FINAL``) and the latest
sessions from ``silver_multimodal_aligned``.
"""

from __future__ import annotations

from typing import Any

from grafana.dashboards.common import STORE_FILTER, dashboard, row, store_variable, to_json
from grafana.panels import GOLD_INTERVAL, bars, big_number, higher_is_better, rows, time_series

UID = "scout-store-interactions"
METRICS = "gold_store_interaction_metrics"
WHERE = f"WHERE $__timeFilter(window_start) AND {STORE_FILTER}"
#: The time range the data itself covers (the preview and the checks show it).
DATA_RANGE_SQL = f"SELECT min(window_start), max(window_end) FROM {METRICS}"


def build() -> dict[str, Any]:
    d = (
        dashboard(UID, "Scout · Store interactions", "Interactions, dwell, greetings, speech, sentiment and brands")
        .with_variable(store_variable(METRICS))
        .with_row(row("Overview"))
        .with_panel(
            big_number(
                "Interactions",
                "Closed interaction sessions (speech and/or vision, split by a 30 s gap) in the time range.",
                f"SELECT sum(interactions) AS interactions FROM {METRICS} FINAL {WHERE}",
                "short",
            )
        )
        .with_panel(
            big_number(
                "Average dwell",
                "Mean length of an interaction, weighted by each hour's interactions.",
                f"SELECT sum(avg_dwell_s * interactions) / nullIf(sum(interactions), 0) AS avg_dwell_s "
                f"FROM {METRICS} FINAL {WHERE}",
                "s",
            )
        )
        .with_panel(
            big_number(
                "Greeted rate",
                "Share of interactions in which the advisor greeted the customer (lexicon on the transcript). "
                "Red below 50 %, orange below 80 %.",
                f"SELECT sum(greeted_interactions) / nullIf(sum(interactions), 0) AS greeted_rate "
                f"FROM {METRICS} FINAL {WHERE}",
                "percentunit",
                higher_is_better(0.8, 0.5),
            )
        )
        .with_panel(
            big_number(
                "Speech rate",
                "Share of interactions with at least one transcribed utterance.",
                f"SELECT sum(speech_interactions) / nullIf(sum(interactions), 0) AS speech_rate "
                f"FROM {METRICS} FINAL {WHERE}",
                "percentunit",
            )
        )
        .with_row(row("Over time"))
        .with_panel(
            time_series(
                "Interactions per store",
                "Interactions per interval and store (gold hourly windows).",
                f"SELECT $__timeInterval(window_start) AS time, store_id, sum(interactions) AS interactions "
                f"FROM {METRICS} FINAL {WHERE} GROUP BY time, store_id ORDER BY time",
                "short",
                interval=GOLD_INTERVAL,
            )
        )
        .with_panel(
            time_series(
                "Dwell time (average and p90)",
                "Average dwell weighted by interactions; p90 is the highest hourly p90 among the selected "
                "stores (exact when one store is selected).",
                f"SELECT $__timeInterval(window_start) AS time, "
                f"sum(avg_dwell_s * interactions) / nullIf(sum(interactions), 0) AS avg_dwell_s, "
                f"max(p90_dwell_s) AS p90_dwell_s FROM {METRICS} FINAL {WHERE} GROUP BY time ORDER BY time",
                "s",
                interval=GOLD_INTERVAL,
            )
        )
        .with_panel(
            time_series(
                "Greeted and speech rates",
                "Share of interactions greeted, and share with speech, per interval.",
                f"SELECT $__timeInterval(window_start) AS time, "
                f"sum(greeted_interactions) / nullIf(sum(interactions), 0) AS greeted_rate, "
                f"sum(speech_interactions) / nullIf(sum(interactions), 0) AS speech_rate "
                f"FROM {METRICS} FINAL {WHERE} GROUP BY time ORDER BY time",
                "percentunit",
                higher_is_better(0.8, 0.5),
                interval=GOLD_INTERVAL,
            )
        )
        .with_panel(
            time_series(
                "Sentiment over time",
                "Mean utterance sentiment (-1 negative … +1 positive, lexicon-based), weighted by utterances.",
                "SELECT $__timeInterval(window_start) AS time, "
                "sum(avg_sentiment * utterances) / nullIf(sum(utterances), 0) AS sentiment "
                f"FROM gold_transcript_sentiment_analysis FINAL {WHERE} GROUP BY time ORDER BY time",
                "none",
                [(None, "red"), (-0.2, "orange"), (0.2, "green")],
                interval=GOLD_INTERVAL,
            )
        )
        .with_row(row("Brands and sessions"))
        .with_panel(
            bars(
                "Brand mentions vs sightings",
                "Per brand: times named in speech, frames in which its pack was seen, and interactions "
                "that involved it, over the store days that overlap the range. Top 12 by mentions + sightings.",
                "SELECT brand, sum(mentions) AS mentions, sum(sightings) AS sightings, "
                "sum(interactions) AS interactions "
                # brand rows are whole store days: show every day that overlaps the range
                f"FROM gold_brand_performance FINAL WHERE window_end > $__fromTime AND window_start < $__toTime "
                f"AND {STORE_FILTER} GROUP BY brand "
                "ORDER BY mentions + sightings DESC LIMIT 12",
                "brand",
                width=24,
            )
        )
        .with_panel(
            rows(
                "Stores side by side",
                "The whole time range per store: the all-stores view of the numbers above.",
                "SELECT store_id, sum(interactions) AS total_interactions, "
                "round(sum(avg_dwell_s * interactions) / nullIf(sum(interactions), 0), 1) AS avg_dwell_s, "
                "round(sum(greeted_interactions) / nullIf(sum(interactions), 0), 3) AS greeted_rate, "
                "round(sum(speech_interactions) / nullIf(sum(interactions), 0), 3) AS speech_rate, "
                "max(active_devices) AS devices "
                f"FROM {METRICS} FINAL {WHERE} GROUP BY store_id ORDER BY store_id",
                height=7,
            )
        )
        .with_panel(
            rows(
                "Latest interactions",
                "The 50 most recent interaction sessions (silver), newest first.",
                "SELECT started_at, store_id, device_id, round(duration_ms / 1000, 1) AS duration_s, "
                "n_utterances, max_people, greeted, round(sentiment, 2) AS sentiment, "
                "arrayStringConcat(brands_mentioned, ', ') AS brands_mentioned, "
                "arrayStringConcat(brands_seen, ', ') AS brands_seen, "
                "substring(transcript, 1, 160) AS transcript "
                "FROM silver_multimodal_aligned FINAL "
                f"WHERE $__timeFilter(started_at) AND {STORE_FILTER} ORDER BY started_at DESC LIMIT 50",
                height=12,
            )
        )
    )
    return to_json(d)
