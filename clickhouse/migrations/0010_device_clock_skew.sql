-- A device-health column for implausible clocks (#19, item 5): the heartbeats of the hour whose
-- device's heartbeat hour was further than `clock_skew_h` from its store's median one when it came
-- (the `clock_skew` rule's failures, dataflows/gold/store_clock.py). Rows written before are 0.
ALTER TABLE gold_device_health_summary
    ADD COLUMN IF NOT EXISTS skewed_heartbeats UInt32 DEFAULT 0 AFTER heartbeats_expected;
