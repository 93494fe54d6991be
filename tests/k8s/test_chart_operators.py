"""The operator examples of ``values-prod.yaml`` (issue #22): Strimzi's resources validated against the
published schemas of its CRDs (``@kubernetes-models/strimzi-kafka-operator``, from the npm registry,
every error reported), and each example held to what the dataflow's values expect of it.

Not covered: Altinity's ``ClickHouseInstallation`` against a schema (no registry reachable here
publishes its CRD: not on PyPI, npm or Maven Central, and the Go module proxy refuses the operator's
module), and the operators themselves acting on these resources (no API server here).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from dataflows.config import Topics
from tests.k8s.schemas import ROOT, crd_errors
from tests.k8s.test_chart import CHART, render

PROD = yaml.safe_load((CHART / "values-prod.yaml").read_text())


def _operators() -> list[dict[str, Any]]:
    return render("-f", str(CHART / "values-prod.yaml"), "--set", "operators.only=true")


def test_the_infrastructure_release_renders_the_examples_alone() -> None:
    kinds = sorted({o["kind"] for o in _operators()})
    assert kinds == ["ClickHouseInstallation", "ConfigMap", "Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"]
    app = {o["kind"] for o in render("-f", str(CHART / "values-prod.yaml"))}
    assert not app & {"Kafka", "KafkaTopic", "ClickHouseInstallation"}


def test_strimzis_resources_are_valid_against_its_published_schemas() -> None:
    strimzi = [o for o in _operators() if o["apiVersion"].startswith("kafka.strimzi.io/")]
    assert len(strimzi) == 9
    assert crd_errors(strimzi) == {f"{o['kind']}/{o['metadata']['name']}": [] for o in strimzi}


def test_a_schema_error_in_a_strimzi_resource_is_reported() -> None:
    bad = copy.deepcopy([o for o in _operators() if o["kind"] in ("Kafka", "KafkaTopic")][:2])
    bad[0]["spec"]["kafka"]["listeners"][0]["port"] = "ninety"
    bad[1]["spec"]["partitions"] = "twelve"
    errors = crd_errors(bad)
    assert all(errors.values()), errors
    assert crd_errors([{"apiVersion": "clickhouse.altinity.com/v1", "kind": "ClickHouseInstallation",
                           "metadata": {"name": "x"}}])["ClickHouseInstallation/x"]  # fmt: skip


def test_the_examples_are_what_the_dataflows_values_expect() -> None:
    objects = _operators()
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    # one topic per stream, named as the dataflow's settings name them (the SPEC §2 defaults)
    topics = {t["spec"]["topicName"] for t in by_kind["KafkaTopic"]}
    assert topics == set(Topics().model_dump().values())
    # the user the values authenticate as, with read or write on every topic
    [user] = by_kind["KafkaUser"]
    assert user["metadata"]["name"] == PROD["kafka"]["saslUsername"] == PROD["kafka"]["existingSecret"]
    assert {
        a["resource"]["name"] for a in user["spec"]["authorization"]["acls"] if a["resource"]["type"] == "topic"
    } == topics
    [kafka] = by_kind["Kafka"]
    [listener] = kafka["spec"]["kafka"]["listeners"]
    assert PROD["source"] == f"kafka://{kafka['metadata']['name']}-kafka-bootstrap.analytics.svc:{listener['port']}"
    assert listener["authentication"]["type"] == PROD["kafka"]["saslMechanism"].lower()
    assert PROD["kafka"]["caSecret"] == f"{kafka['metadata']['name']}-cluster-ca-cert"
    # the warehouse: its users are clickhouse/users.d's, the sink is its TLS service and database
    [chi] = by_kind["ClickHouseInstallation"]
    users = chi["spec"]["configuration"]["files"]["users.d/scout-users.xml"]
    assert users == (ROOT / "clickhouse" / "users.d" / "scout-users.xml").read_text()
    port = chi["spec"]["configuration"]["settings"]["https_port"]
    assert PROD["clickhouse"]["sink"] == f"https://clickhouse-{chi['metadata']['name']}.analytics.svc:{port}/scout"
    assert f"<{PROD['clickhouse']['user']}>" in users
    [initdb] = [o for o in by_kind["ConfigMap"] if o["metadata"]["name"].endswith("-initdb")]
    assert "CREATE DATABASE IF NOT EXISTS scout" in initdb["data"]["scout.sql"]


@pytest.mark.parametrize("chart_file", ["files/clickhouse/scout-users.xml"])
def test_the_chart_carries_the_projects_clickhouse_users(chart_file: str) -> None:
    assert (CHART / chart_file).read_text() == (ROOT / "clickhouse" / "users.d" / "scout-users.xml").read_text(), (
        "run `make chart-files`"
    )
