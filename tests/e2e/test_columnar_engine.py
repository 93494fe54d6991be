"""The columnar engine (``--engine columnar``, issue #21) writes what the row engine writes.

The same simulated file — malformed records, duplicates, out-of-order and late events, silent
devices — through ``scout run`` with each engine: every table equal (processing-time columns
aside, maps compared as maps), the batch recomputation (``scout db verify``) equal, every record
accounted for, the annotated topic's events equal. A columnar run killed with SIGKILL and restarted
at once ends as a clean run does; a columnar replay from bronze rebuilds what a row replay does.
A recovery store of the other engine, or of another number of key groups, is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflows.simulator import SimConfig, simulate, write_topic_file
from tests.e2e.conftest import Scout, assert_same, snapshot
from tests.e2e.test_kills import _kill_then_restart

pytestmark = pytest.mark.slow

COLUMNAR = {"SCOUT_ENGINE": "columnar"}


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("columnar") / "events.jsonl"
    cfg = SimConfig(stores=3, devices_per_store=2, hours=3, seed=21, malformed_rate=0.01, duplicate_rate=0.02,
                    late_rate=0.01)  # fmt: skip
    write_topic_file(simulate(cfg), path)
    return path


@pytest.fixture(scope="module")
def row_engine(events: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[str]], list[str]]:
    scout = Scout(tmp_path_factory.mktemp("rows"))
    scout.run(events, "--annotated-out", str(scout.workdir / "annotated.jsonl"))
    return snapshot(scout), _values(scout.workdir / "annotated.jsonl")


def _values(topic_file: Path) -> list[str]:
    """The annotated events of a topic file, as values (their order follows the engines' batches)."""
    return sorted(json.dumps(json.loads(line)["value"], sort_keys=True) for line in topic_file.read_text().splitlines())


def test_the_columnar_engine_writes_what_the_row_engine_writes(
    events: Path, row_engine: tuple[dict[str, list[str]], list[str]], tmp_path: Path
) -> None:
    scout = Scout(tmp_path)
    scout.run(events, "--engine", "columnar", "--annotated-out", str(tmp_path / "annotated.jsonl"))
    tables = snapshot(scout)
    assert all(tables[t] for t in ("late_events", "quarantine_events", "silver_annotated_events")), "a real mix"
    assert_same(row_engine[0], tables)
    assert _values(tmp_path / "annotated.jsonl") == row_engine[1] != []
    assert all(t["ok"] for t in scout.verify())
    counts = scout.accounted()
    assert counts["late"] == counts["late_logged"] > 0 and counts["duplicates"] > 0


def test_a_columnar_replay_from_bronze_rebuilds_what_a_row_replay_does(events: Path, tmp_path: Path) -> None:
    replayed = {}
    for engine in ("rows", "columnar"):
        scout = Scout(tmp_path / engine)
        scout.workdir.mkdir()
        scout.run(events, "--engine", engine)
        scout("replay", "--from-bronze", "--since", "2025-05-19T00:00:00Z", "--until", "2025-05-19T01:00:00Z",
              "--sink", scout.sink, env={"SCOUT_ENGINE": engine})  # fmt: skip
        assert scout.query("SELECT countIf(late) AS late FROM bronze_visual_stream FINAL") == [{"late": 0}]
        replayed[engine] = snapshot(scout)
    assert_same(replayed["rows"], replayed["columnar"])


def test_a_killed_columnar_run_ends_as_a_clean_run(
    events: Path, row_engine: tuple[dict[str, list[str]], list[str]], tmp_path: Path
) -> None:
    scout = Scout(tmp_path)
    _kill_then_restart(scout, f"file:{events}", COLUMNAR)
    assert_same(row_engine[0], snapshot(scout))


def test_a_store_of_the_other_engine_or_other_key_groups_is_refused(events: Path, tmp_path: Path) -> None:
    scout = Scout(tmp_path)
    recovery = str(tmp_path / "recovery")
    scout.run(events, "--recovery-dir", recovery, "--keep-sessions-open")
    refused = scout("run", "--source", f"file:{events}", "--sink", scout.sink, "--no-summary", "--recovery-dir",
                    recovery, "--engine", "columnar", check=False)  # fmt: skip
    assert refused.returncode == 2 and "holds the rows engine's per-key state" in refused.stderr, refused.stderr
    columnar = str(tmp_path / "columnar-recovery")
    scout.run(events, "--recovery-dir", columnar, "--engine", "columnar", "--keep-sessions-open")
    again = scout("run", "--source", f"file:{events}", "--sink", scout.sink, "--no-summary", "--recovery-dir",
                  columnar, "--engine", "columnar", check=False, env={"SCOUT_KEY_GROUPS": "3"})  # fmt: skip
    assert again.returncode == 2 and "key groups of 8" in again.stderr, again.stderr
    rows_again = scout("run", "--source", f"file:{events}", "--sink", scout.sink, "--no-summary", "--recovery-dir",
                       columnar, check=False)  # fmt: skip
    assert rows_again.returncode == 2 and "holds the columnar engine's" in rows_again.stderr, rows_again.stderr
