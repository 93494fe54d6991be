"""The probes' answers: liveness from advancing epochs, readiness from real checks, both over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataflows.config import load_settings
from dataflows.health import READY_CACHE_S, Health
from dataflows.metrics import serve_metrics
from dataflows.runner import readiness_checks
from dataflows.warehouse import connect, migrate
from tests.kafka_broker import free_port


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_liveness_follows_the_epochs() -> None:
    clock = _Clock()
    health = Health(stall_after_s=30, startup_s=120, clock=clock)
    clock.now += 119
    assert health.live()[0], "within the start-up time, before any epoch"
    clock.now += 2
    ok, detail = health.live()
    assert not ok and detail["epochs"] == 0, "no epoch within the start-up time"
    health.epoch()
    clock.now += 29
    assert health.live() == (True, {"epochs": 1, "since_last_epoch_s": 29.0, "limit_s": 30})
    clock.now += 2
    assert not health.live()[0], "epochs stopped advancing"
    health.epoch()
    assert health.live()[0]


def test_readiness_names_each_failing_check_and_is_reused_for_a_while() -> None:
    clock = _Clock()
    calls: list[str] = []

    def source() -> None:
        calls.append("source")
        raise RuntimeError("cannot reach the Kafka brokers 127.0.0.1:1\nmore detail")

    def warehouse() -> None:
        calls.append("warehouse")

    health = Health(checks={"source": source, "warehouse": warehouse}, clock=clock)
    assert health.ready() == (False, {"source": "cannot reach the Kafka brokers 127.0.0.1:1", "warehouse": "ok"})
    assert health.ready()[0] is False and calls == ["source", "warehouse"], "answered from the cache"
    clock.now += READY_CACHE_S
    health.ready()
    assert calls == ["source", "warehouse"] * 2


def test_real_checks_fail_on_an_unreachable_broker_and_an_unmigrated_warehouse(tmp_path: Path) -> None:
    """The checks a run builds, against things that are not there; then against a migrated warehouse."""
    sink = f"chdb://{tmp_path / 'ch'}"
    settings = load_settings(sink=sink, sink_writer="inline")
    checks = readiness_checks(settings, [f"kafka://127.0.0.1:{free_port()}"], timeout_s=1.0)
    health = Health(checks=checks)
    ok, answers = health.ready()
    assert not ok
    assert answers["source"].startswith("cannot reach the Kafka brokers")
    assert "migrat" in answers["warehouse"], answers
    client = connect(sink, create=True)
    try:
        migrate(client)
    finally:
        client.close()
    files = tmp_path / "events.jsonl"
    files.write_text("")
    ready = Health(checks=readiness_checks(settings, [f"file:{files}"], timeout_s=1.0))
    assert ready.ready() == (True, {"source": "ok", "warehouse": "ok"})
    files.unlink()
    gone = Health(checks=readiness_checks(settings, [f"file:{files}"], timeout_s=1.0)).ready()
    assert not gone[0] and "events.jsonl" in gone[1]["source"]


@pytest.fixture
def served() -> Iterator[tuple[int, Health, _Clock]]:
    from dataflows import health as module

    clock = _Clock()
    health = Health(stall_after_s=30, startup_s=120, clock=clock)
    previous, module.HEALTH = module.HEALTH, health
    port = free_port()
    server = serve_metrics(port, "127.0.0.1")
    try:
        yield port, health, clock
    finally:
        server.shutdown()
        server.server_close()
        module.HEALTH = previous


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_metrics_port_answers_the_probes_and_prometheus(served: tuple[int, Health, _Clock]) -> None:
    port, health, clock = served
    status, body = _get(port, "/livez")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = _get(port, "/readyz")
    assert status == 503 and json.loads(body)["checks"] == {"run": "starting (its checks are not set up yet)"}

    def missing_topic() -> None:
        raise RuntimeError("topics missing on b:9092: x")

    health.configure(30, 120, {"warehouse": lambda: None})
    status, body = _get(port, "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ok", "checks": {"warehouse": "ok"}})
    health.configure(30, 120, {"warehouse": lambda: None, "source": missing_topic})
    status, body = _get(port, "/readyz")
    assert status == 503 and json.loads(body)["checks"]["source"] == "topics missing on b:9092: x"
    clock.now += 121  # the start-up time passes with no epoch
    status, body = _get(port, "/livez")
    assert status == 503 and json.loads(body)["status"] == "failing"
    status, body = _get(port, "/metrics")
    assert status == 200 and "scout_records_in_total" in body
