"""The quarantine-rate panel (and its alert) stays exact when records are processed again.

A resume re-emits its last epoch and a replay processes a range again; ``dq_rule_metrics`` counts every
evaluation, so a rate over its counts understated the quarantine after re-processing (issue #19: 3.2×
the clean denominator after four replays). The panel's query counts distinct records instead.
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
    scout.run(events)  # the same records again, as a replay or a re-emitted epoch does
    [dq] = scout.query("SELECT sum(passed + failed) AS n FROM dq_rule_metrics WHERE rule = 'record_envelope'")
    assert dq["n"] >= 2 * (counts["q"] + counts["a"])  # the evaluation counter did count them twice
    [again] = scout.query(sql)
    assert again["quarantine_rate"] == pytest.approx(first["quarantine_rate"])
