-- Settings a warehouse was built with, which every later run must share. Today one:
-- `day_timezone` (the zone whose midnight starts a gold day). Recorded by the first
-- migration that is told the zone (`scout db migrate`, `scout run`, `scout replay`); a run
-- or `scout db verify` configured with another zone is refused, since gold days of two
-- zones would mix in one table. The row is never replaced (the first one wins).
CREATE TABLE IF NOT EXISTS warehouse_settings
(
    name       LowCardinality(String),
    value      String,
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY name;
