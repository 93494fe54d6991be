"""Rescaling a cluster on its recovery store (issue #22, item 5): 2 processes, then 3, then 1.

What Bytewax 0.21 does: a resume may use another worker count (its recovery partitions are fixed at
creation, ``recovery_partitions`` = 8, at least the largest cluster); each execution records its
worker count, and the next one resumes from the oldest epoch any worker of the last one had not
finished. Here the input arrives in thirds, each read by a cluster of another size that resumes from
the same store (kept, as a StatefulSet keeps its volumes); the tables must equal one clean run's, and
``scout db verify`` must pass. What this does not cover: pods with a volume each (here the processes
share one directory; k8s/README.md, "Rescaling").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataflows.recovery_store import partitions
from dataflows.simulator import BROKEN_ENVELOPE, SimConfig, simulate
from scout_contract.streams import NAMES
from tests.e2e.conftest import Scout, assert_same, snapshot
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow


def _executions(recovery: Path) -> list[int]:
    """The worker count of each execution the recovery store recorded (Bytewax's ``exs`` table), in order."""
    import sqlite3

    found: dict[int, int] = {}
    for part in partitions(recovery):
        conn = sqlite3.connect(f"{part.as_uri()}?mode=ro", uri=True)
        try:
            found.update(conn.execute("SELECT ex_num, worker_count FROM exs").fetchall())
        finally:
            conn.close()
    return [found[ex] for ex in sorted(found)]


def test_a_cluster_rescaled_2_3_1_on_its_recovery_store_gives_the_tables_of_one_run(
    session_broker: Broker, tmp_path: Path
) -> None:
    from dataflows.sources.kafka import produce_records

    env = {f"SCOUT_TOPICS__{s.upper()}": f"rescale-{os.getpid()}-{s}" for s in NAMES} | {"SCOUT_KAFKA__PARTITIONS": "4"}
    sim = SimConfig(
        stores=3,
        devices_per_store=2,
        hours=0.75,
        seed=23,
        malformed_rate=0.01,
        out_of_order_rate=0.05,
        late_rate=0.01,
        duplicate_rate=0.01,
        topics={s: env[f"SCOUT_TOPICS__{s.upper()}"] for s in NAMES},
    )
    records = [r for r in simulate(sim) if r.topic != BROKEN_ENVELOPE]
    topics = [env[f"SCOUT_TOPICS__{s.upper()}"] for s in NAMES]
    conf = {"bootstrap.servers": session_broker.bootstrap}
    source = f"kafka://{session_broker.bootstrap}"
    scout = Scout(tmp_path / "rescaled")
    scout.workdir.mkdir()
    third = len(records) // 3
    seen = []
    for part, processes in enumerate((2, 3, 1)):
        produce_records(conf, records[part * third : (part + 1) * third if part < 2 else None], 4, topics)
        last = ["--close-sessions-at-end"] if part == 2 else []
        proc = scout(
            "run",
            "--no-summary",
            "--stop-at-end",
            "--processes",
            str(processes),
            "--source",
            source,
            "--sink",
            scout.sink,
            "--recovery-dir",
            str(tmp_path / "recovery"),
            *last,
            env=env,
            timeout=300,
        )
        if processes > 1:
            assert proc.stderr.count('"worker finished"') == processes, proc.stderr[-2000:]
        seen.append(scout.accounted()["bronze"])
    assert seen[0] < seen[1] < seen[2]
    # three executions recorded in the store, each with its worker count: resumed, not started afresh
    assert _executions(tmp_path / "recovery") == [2, 3, 1]

    clean = Scout(tmp_path / "clean")
    clean.workdir.mkdir()
    clean("run", "--no-summary", "--stop-at-end", "--source", source, "--sink", clean.sink, env=env, timeout=300)
    assert_same(snapshot(scout), snapshot(clean))
    assert all(check["ok"] for check in scout.verify())


def test_partitions_added_to_the_topics_between_two_runs_are_read_from_their_start(
    session_broker: Broker, tmp_path: Path
) -> None:
    """k8s/README.md, "Rescale": a resumed run lists the partitions again, and one with no saved offset is
    read from its beginning. Devices whose key now hashes to a new partition move there; nothing is lost
    (every record is in bronze, quarantine or counted as a duplicate), and the warehouse verifies."""
    from confluent_kafka.admin import AdminClient, NewPartitions  # type: ignore[attr-defined]

    from dataflows.sources.kafka import produce_records

    env = {f"SCOUT_TOPICS__{s.upper()}": f"grown-{os.getpid()}-{s}" for s in NAMES}
    topics = [env[f"SCOUT_TOPICS__{s.upper()}"] for s in NAMES]
    sim = SimConfig(stores=3, devices_per_store=2, hours=0.5, seed=31, partitions=4, duplicate_rate=0.01,
                    malformed_rate=0.01, topics=dict(zip(NAMES, topics, strict=True)))  # fmt: skip
    records = [r for r in simulate(sim) if r.topic != BROKEN_ENVELOPE]
    conf: dict[str, str | int | float | bool] = {"bootstrap.servers": session_broker.bootstrap}
    half = len(records) // 2
    produce_records(conf, records[:half], 2, topics)  # two partitions: keys hash mod 2
    scout = Scout(tmp_path / "grown")
    scout.workdir.mkdir()
    run = ["run", "--no-summary", "--stop-at-end", "--source", f"kafka://{session_broker.bootstrap}",
           "--sink", scout.sink, "--recovery-dir", str(tmp_path / "recovery")]  # fmt: skip
    scout(*run, env=env, timeout=300)
    admin = AdminClient(conf)
    for future in admin.create_partitions([NewPartitions(t, 4) for t in topics]).values():
        future.result(timeout=60)
    produce_records(conf, records[half:], 4, topics)  # the same keys, now mod 4: half the devices move
    scout(*run, "--close-sessions-at-end", env=env, timeout=300)
    [moved] = scout.query("SELECT count() AS n FROM bronze_visual_stream FINAL WHERE partition >= 2")
    assert int(moved["n"]) > 0, "nothing was read from the new partitions"
    c = scout.accounted()
    assert c["bronze"] + c["quarantined"] + c["duplicates"] + c["late_logged"] - c["late"] == len(records), c
    assert all(check["ok"] for check in scout.verify())
