"""The chart's rendered pods, started for real (issue #22, items 4-5): :mod:`tests.k8s.pods` runs the
rendered containers' commands, arguments, environment and mounted files as local processes against
the test's broker and a chDB directory.

One StatefulSet rendered with ``values-dev.yaml`` (topics of this test, a one-second epoch) lives
through an install and two upgrades: the migrate hook before each, 2 pods, then 3, then 1, each fed a
third of the input, each stopped by SIGTERM to every pod; the volumes are kept between them. The
tables must equal those of one ``scout run`` over the same topics with a recovery store (which, like
the pods, keeps open sessions for a resume), and ``scout db verify`` must pass. Then a day of the
warehouse is corrupted and the replay Job, rendered and run the same way, rebuilds it: the tables
equal one run's that closed its sessions at the end of the input, as a replay of a finished range does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataflows.recovery_store import committed_epoch
from dataflows.simulator import BROKEN_ENVELOPE, SimConfig, simulate
from scout_contract.streams import NAMES
from tests.e2e.conftest import Scout, assert_same, snapshot
from tests.e2e.test_rescale import _executions
from tests.k8s.pods import Pod, Rendered, terminate, wait_until
from tests.k8s.test_chart import CHART, render
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow

NAMESPACE = "analytics"  # tests.k8s.test_chart.render
DEV_KAFKA = "kafka.dev.svc:9092"
DEV_CLICKHOUSE = "http://clickhouse.dev.svc:8123/scout"
#: the Secrets the pods reference, as the cluster would hold them (chDB takes no password: unused there)
SECRETS = {("scout-clickhouse", "password"): "from-the-secret"}


def _render(replicas: int, topics: dict[str, str], *more: str) -> list[dict[str, object]]:
    sets = [f"topics.{stream}={topic}" for stream, topic in topics.items()] + list(more)
    sets += [f"replicas={replicas}", "snapshotIntervalS=1", "settings.idle_close_s=86400",
             "clickhouse.existingSecret=scout-clickhouse"]  # fmt: skip
    return render("-f", str(CHART / "values-dev.yaml"), *(a for s in sets for a in ("--set", s)))


def _serve(rendered: Rendered, records: int) -> list[Pod]:
    """Upgrade (the migrate hook, then the pods), wait until the pods are ready, have read ``records``
    more records and committed two epochs after that, check the probes, and SIGTERM every pod."""
    hook = rendered.run_job("-migrate")
    assert hook.returncode == 0, hook.stderr
    pods = rendered.start()
    home = rendered.root / "volumes" / f"recovery-{rendered.pod_names[0]}"
    try:
        wait_until(lambda: all(p.probe("readinessProbe")[0] == 200 for p in pods), "every pod ready", pods)
        wait_until(lambda: sum(p.metric("scout_records_in_total") for p in pods) >= records, "input read", pods)
        read_at = committed_epoch(home) or 0
        wait_until(lambda: (committed_epoch(home) or 0) >= read_at + 2, "two epochs committed after", pods)
        assert [p.probe("livenessProbe")[0] for p in pods] == [200] * len(pods)
    finally:
        codes = terminate(pods, rendered.grace_s())
    said = {p.name: p.stderr()[-2000:] for p in pods if codes[p.name] != 0}
    assert codes == dict.fromkeys(rendered.pod_names, 0), said
    return pods


def test_the_rendered_cluster_gives_one_runs_tables_through_upgrades_and_rescaling_2_3_1(
    session_broker: Broker, tmp_path: Path
) -> None:
    from dataflows.sources.kafka import produce_records

    topics = {s: f"pods-{os.getpid()}-{s}" for s in NAMES}
    sim = SimConfig(stores=3, devices_per_store=2, hours=0.75, seed=29, malformed_rate=0.01,
                    out_of_order_rate=0.05, late_rate=0.01, duplicate_rate=0.01, topics=topics)  # fmt: skip
    records = [r for r in simulate(sim) if r.topic != BROKEN_ENVELOPE]
    conf = {"bootstrap.servers": session_broker.bootstrap}
    pods_scout = Scout(tmp_path / "warehouse")
    pods_scout.workdir.mkdir()
    addresses = {DEV_KAFKA: session_broker.bootstrap, DEV_CLICKHOUSE: pods_scout.sink}
    third = len(records) // 3
    for part, replicas in enumerate((2, 3, 1)):
        chunk = records[part * third : (part + 1) * third if part < 2 else None]
        produce_records(conf, chunk, 4, list(topics.values()))
        rendered = Rendered(_render(replicas, topics), tmp_path / "cluster", addresses, NAMESPACE, SECRETS)
        _serve(rendered, len(chunk))
        volumes = {p.name: sorted(p.name for p in p.iterdir()) for p in (tmp_path / "cluster" / "volumes").iterdir()}
        # the whole recovery store on ordinal 0's volume, none on the others (scout_cli/recovery.py)
        assert [v for name, v in volumes.items() if not name.endswith("-0") and v] == []
    home = tmp_path / "cluster" / "volumes" / f"recovery-{rendered.pod_names[0]}"
    assert _executions(home) == [2, 3, 1], "each upgrade resumed the store, none started afresh"

    clean = Scout(tmp_path / "clean")
    clean.workdir.mkdir()
    env = {f"SCOUT_TOPICS__{s.upper()}": t for s, t in topics.items()}
    clean("run", "--no-summary", "--stop-at-end", "--source", f"kafka://{session_broker.bootstrap}",
          "--sink", clean.sink, "--recovery-dir", str(tmp_path / "clean-recovery"), env=env, timeout=300)  # fmt: skip
    expected = snapshot(clean)
    assert_same(snapshot(pods_scout), expected)
    assert all(check["ok"] for check in pods_scout.verify())

    day = ("toDateTime64('2025-05-18 16:00:00', 3, 'UTC')", "toDateTime64('2025-05-19 16:00:00', 3, 'UTC')")
    pods_scout.command(
        f"ALTER TABLE gold_store_interaction_metrics DELETE WHERE window_start >= {day[0]} AND window_start < {day[1]}",
        f"ALTER TABLE silver_multimodal_aligned DELETE WHERE started_at >= {day[0]} AND started_at < {day[1]}",
    )
    assert snapshot(pods_scout) != expected
    rendered = Rendered(_render(1, topics, "replay.since=2025-05-19T08:00:00+08:00",
                                "replay.until=2025-05-19T09:00:00+08:00"), tmp_path / "cluster", addresses,
                        NAMESPACE, SECRETS)  # fmt: skip
    replayed = rendered.run_job("-replay")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "2025-05-18T16:00:00+00:00" in replayed.stdout  # widened to the whole Asia/Manila day
    closed = Scout(tmp_path / "closed")
    closed.workdir.mkdir()
    closed("run", "--no-summary", "--stop-at-end", "--source", f"kafka://{session_broker.bootstrap}",
           "--sink", closed.sink, env=env, timeout=300)  # fmt: skip
    assert_same(snapshot(pods_scout), snapshot(closed))


def test_a_pod_whose_secret_is_missing_does_not_start(tmp_path: Path) -> None:
    """As the kubelet would not start it (CreateContainerConfigError): the harness refuses, naming it."""
    rendered = Rendered(_render(2, {}), tmp_path, {}, NAMESPACE, secrets={})
    with pytest.raises(AssertionError, match="scout-clickhouse"):
        rendered.run_job("-migrate")
