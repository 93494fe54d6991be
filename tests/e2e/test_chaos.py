"""Chaos: a Kafka run killed with SIGKILL at ten random moments and resumed each time ends with every
table equal to a clean run's, as the dashboards query them (``FINAL``), and ``scout db verify`` passes.

SPEC §3's correctness bar under the failure Kubernetes inflicts most (a pod killed and rescheduled).
The kills come after a random number (1–3) of epochs (0.25 s each) committed since the previous
start, read from the recovery store (``dataflows/recovery_store.py``), so they land anywhere in the run
on any machine load; the seed is fixed, so a failure can be replayed. The broker is Apache Kafka (one
KRaft node). Every table is compared, ``dq_rule_metrics`` too (its counts per block of records must come out
as one run's: docs/architecture.md, "Effectively once"), minus processing-time columns (``updated_at``,
``minute``, ...). The output topics (dead letters, annotated events) are at-least-once: every record of a
clean run is there, repeats are counted.

It caught a Bytewax 0.21 defect: snapshots a killed run wrote for epochs it never finished stayed in
the store, and a later resume loaded them (device clocks ahead of the source offsets: events of a
clean run sent to ``late_events`` or dropped as duplicates). ``scout run`` now deletes them before it
resumes (``dataflows/recovery_store.py``). One process runs in ``make test``; two (≈ 5 minutes) in
``make chaos``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from scout_contract.streams import NAMES
from tests.e2e.conftest import Scout, assert_same, kill_after_commits, snapshot
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow

KILLS = 10
#: 5 stores × 4 devices × 10.5 h at ≈ 1,470 events per device-hour: ≈ 309 k events
_SIM = ["--stores", "5", "--devices", "4", "--hours", "10.5", "--seed", "31", "--malformed-rate", "0.01",
        "--out-of-order-rate", "0.05", "--late-rate", "0.01", "--duplicate-rate", "0.01"]  # fmt: skip


@pytest.fixture(scope="module")
def chaos_topics(session_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    env = {f"SCOUT_TOPICS__{s.upper()}": f"chaos-{os.getpid()}-{s}" for s in NAMES}
    env["SCOUT_KAFKA__PARTITIONS"] = "4"
    clean = Scout(tmp_path_factory.mktemp("chaos-clean"))
    clean("simulate", "--kafka", session_broker.bootstrap, *_SIM, env=env, timeout=600)
    clean("run", "--no-summary", "--stop-at-end", "--source", f"kafka://{session_broker.bootstrap}", "--sink",
          clean.sink, env={**env, **_outputs("clean")}, timeout=600)  # fmt: skip
    return env, clean.workdir


def _outputs(run: str) -> dict[str, str]:
    """The output topics of one run (dead letters, annotated events): each run writes its own."""
    return {"SCOUT_TOPICS__DEAD_LETTER": f"chaos-{os.getpid()}-{run}-dead-letter",
            "SCOUT_TOPICS__ANNOTATED": f"chaos-{os.getpid()}-{run}-annotated"}  # fmt: skip


def _output_records(broker: Broker, run: str) -> tuple[Counter[tuple[bytes, ...]], Counter[bytes]]:
    """Dead letters by their source coordinates (headers), annotated events by value: how often each came."""
    topics = _outputs(run)
    letters = broker.read_to_end(topics["SCOUT_TOPICS__DEAD_LETTER"])
    coordinates = Counter(tuple(h[f"scout.{k}"] for k in ("topic", "partition", "offset")) for _, h in letters)
    return coordinates, Counter(value for value, _ in broker.read_to_end(topics["SCOUT_TOPICS__ANNOTATED"]))


def _chaos(scout: Scout, source: str, env: dict[str, str], seed: int, *extra: str) -> list[int]:
    """Start, kill -9 after 1–3 committed epochs, KILLS times; then run to the end. The epochs killed at."""
    rng = random.Random(seed)
    recovery = scout.workdir / "recovery"
    args = [sys.executable, "-m", "scout_cli", "run", "--source", source, "--sink", scout.sink, "--no-summary",
            "--stop-at-end", "--recovery-dir", str(recovery), "--close-sessions-at-end", *extra]  # fmt: skip
    # small reads and short epochs: ten kills land inside the input on a fast machine too
    small_reads = [*args, "--batch-size", "50"]
    run_env = {**os.environ, **env, **_outputs(f"chaos{seed}"), "SCOUT_SNAPSHOT_INTERVAL_S": "0.25"}
    killed_at: list[int] = []
    for _ in range(KILLS):
        try:
            epoch, _ = kill_after_commits(small_reads, scout.workdir, run_env, recovery, rng.randint(1, 3), 300)
        except AssertionError as exc:
            raise AssertionError(f"after {len(killed_at)} kills (at epochs {killed_at}): {exc}") from None
        killed_at.append(epoch)
    # The last run reads the rest in batches of the default size: a resume with another batch size must
    # change nothing either, and small reads to the end (thousands of small parts for the FINAL queries
    # after it) were half of the test's time.
    last = subprocess.run(args, cwd=scout.workdir, env=run_env, capture_output=True, text=True, timeout=900,
                          check=False)  # fmt: skip
    assert last.returncode == 0, last.stderr[-3000:]
    return killed_at


@pytest.mark.parametrize("processes", [1, pytest.param(2, marks=pytest.mark.chaos)])
def test_ten_random_kills_and_resumes_equal_a_clean_run(
    session_broker: Broker, chaos_topics: tuple[dict[str, str], Path], tmp_path: Path, processes: int
) -> None:
    env, clean_dir = chaos_topics
    clean = Scout(clean_dir)
    expected = snapshot(clean)
    scout = Scout(tmp_path)
    extra = ("--processes", "2") if processes == 2 else ()
    killed_at = _chaos(scout, f"kafka://{session_broker.bootstrap}", env, processes, *extra)
    assert len(killed_at) == KILLS and killed_at == sorted(killed_at), killed_at  # each resume moved on
    got = snapshot(scout)
    differing = {t: [len(expected[t]), len(got[t])] for t in expected if expected[t] != got[t]}
    print("rows (clean, chaos) of differing tables:", json.dumps(differing))  # shown with a failure
    assert_same(got, expected)
    assert all(t["ok"] for t in scout.verify())
    # Output topics are at-least-once (docs/architecture.md): nothing lost, repeats only of whole records
    # that consumers dedup by the dead letter's source coordinates or the annotated event's value.
    letters, annotated = _output_records(session_broker, "clean")
    chaos_letters, chaos_annotated = _output_records(session_broker, f"chaos{processes}")
    assert letters and max(letters.values()) == 1 and annotated and max(annotated.values()) == 1
    assert set(chaos_letters) == set(letters)
    assert set(chaos_annotated) == set(annotated)
    print(
        f"repeats after {KILLS} kills: dead letters {chaos_letters.total()} for {len(letters)}, "
        f"annotated events {chaos_annotated.total()} for {len(annotated)}"
    )
