"""The quarantine-rate panel (and its alert) stays exact when records are processed again.

A resume re-emits its last epoch and a replay processes a range again. A rate over processing-time
counters understated the quarantine after re-processing (issue #19: 3.2× the clean denominator after four
replays). The panel's query counts distinct records; ``dq_rule_metrics`` now counts each record's
evaluation once too (per block of offsets, replaced by version: dataflows/rule_tally.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dataflows.simulator import SimConfig, simulate, write_topic_file
from grafana.dashboards.data_quality import QUARANTINE_RATE_SQL
from grafana.macros import TimeRange, expand
from tests.e2e.conftest import Scout

pytestmark = pytest.mark.slow

_SIM = SimConfig(stores=1, devices_per_store=2, hours=0.5, seed=23, malformed_rate=0.05)
#: every processing time of these runs (ingested_at / quarantined_at are wall-clock times)
_ALWAYS = TimeRange.parse("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")


def test_the_rate_is_the_same_after_the_input_is_processed_again(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_topic_file(simulate(_SIM), events)
    scout = Scout(tmp_path)
    sql = expand(QUARANTINE_RATE_SQL, _ALWAYS)
    scout.run(events)
    [first] = scout.query(sql)
    [counts] = scout.query(
        "SELECT (SELECT count() FROM quarantine_events FINAL) AS q, "
        "(SELECT count() FROM bronze_stt_raw FINAL) + (SELECT count() FROM bronze_visual_stream FINAL) + "
        "(SELECT count() FROM bronze_device_heartbeat FINAL) + (SELECT count() FROM bronze_insight_feedback FINAL) AS a"
    )
    assert counts["q"] > 0
    assert first["quarantine_rate"] == pytest.approx(counts["q"] / (counts["q"] + counts["a"]))
    evaluated = (
        "SELECT (SELECT sum(passed + failed) FROM dq_rule_metrics FINAL WHERE rule = 'record_envelope') AS n, "
        "(SELECT sum(failed) FROM dq_rule_metrics FINAL WHERE rule = 'unique_event_id') AS duplicates"
    )
    [dq_first] = scout.query(evaluated)
    assert dq_first["n"] == counts["q"] + counts["a"] + dq_first["duplicates"]  # every record read, once
    scout.run(events)  # the same records again, as a replay or a re-emitted epoch does
    assert scout.query(evaluated) == [dq_first]  # counted once, not twice
    [again] = scout.query(sql)
    assert again["quarantine_rate"] == pytest.approx(first["quarantine_rate"])
