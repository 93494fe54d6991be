"""Grafana in the chart (issue #22): the provisioning the chart carries is what ``scout grafana build``
writes, the datasource points where the values say, and every variable the files name is set.

Not covered: a Grafana server (none runs here) loading these files; ``grafana/tests`` check the
dashboards and rules offline, and the rules' SQL against a warehouse.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.datasource import GRAFANA_VERSION, PLUGIN_ID, PLUGIN_VERSION
from grafana.provisioning import ClickHouseEndpoint, build, datasource_file
from tests.k8s import policy
from tests.k8s.test_chart import CHART, helm, render

FILES = CHART / "files" / "grafana"


def _grafana(values: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The Grafana Deployment, its provisioning ConfigMap's data and the values, as rendered."""
    objects = render("-f", str(CHART / values))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    provisioning = next(o for o in objects if o["metadata"]["name"].endswith("-grafana-provisioning"))
    return deployment, provisioning["data"], yaml.safe_load((CHART / values).read_text())["grafana"]


def test_the_chart_carries_what_scout_grafana_build_writes(tmp_path: Path) -> None:
    built = {p.relative_to(tmp_path): p.read_text() for p in build(tmp_path)}
    carried = {p.relative_to(FILES): p.read_text() for p in FILES.rglob("*") if p.is_file()}
    stale = sorted(str(p) for p in built.keys() | carried.keys() if built.get(p) != carried.get(p))
    assert not stale, f"k8s/chart/files/grafana differs from scout grafana build ({stale}): run `make chart-files`"


@pytest.mark.parametrize("values", ["values-dev.yaml", "values-prod.yaml"])
def test_the_datasource_points_where_the_values_say(values: str) -> None:
    _, data, wanted = _grafana(values)
    ch = {**yaml.safe_load((CHART / "values.yaml").read_text())["grafana"]["clickhouse"], **wanted["clickhouse"]}
    endpoint = ClickHouseEndpoint(ch["host"], ch["port"], ch["protocol"], ch["secure"], ch["database"])
    assert yaml.safe_load(data["datasources-scout-clickhouse.yaml"]) == datasource_file(endpoint)


def test_the_image_and_plugin_are_the_versions_the_dashboards_are_built_for() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["grafana"]
    assert defaults["image"]["tag"] == GRAFANA_VERSION
    assert defaults["plugin"] == f"{PLUGIN_ID} {PLUGIN_VERSION}"


def test_every_variable_the_provisioning_names_is_set_from_a_secret() -> None:
    deployment, data, _ = _grafana("values-prod.yaml")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    named = {m for text in data.values() for m in re.findall(r"\$\{?(SCOUT_[A-Z_]+)", text)}
    assert named >= {"SCOUT_CH_GRAFANA_PASSWORD", "SCOUT_ALERT_EMAILS", "SCOUT_ALERT_SLACK_WEBHOOK_URL"}
    assert {n: "secretKeyRef" in env.get(n, {}).get("valueFrom", {}) for n in named} == dict.fromkeys(named, True)
    # every provisioning file is mounted where Grafana looks for its kind
    [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "provisioning"]
    assert {i["key"] for i in volume["configMap"]["items"]} == set(data)
    assert {i["path"].split("/")[0] for i in volume["configMap"]["items"]} == {"alerting", "dashboards", "datasources"}


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--set", "grafana.enabled=true"], "grafana.adminSecret"),
        (["-f", str(CHART / "values-prod.yaml"), "--set", "grafana.clickhouse.existingSecret="],
         "grafana.clickhouse.existingSecret"),
        (["--set", "grafana.clickhouse.password=hunter2"], "password"),
        (["--set", "grafana.image.tag=latest"], "tag"),
    ],
)  # fmt: skip
def test_bad_grafana_values_fail_at_template_time_naming_the_value(flags: list[str], named: str) -> None:
    proc = helm("template", "scout", str(CHART), *flags)
    assert proc.returncode != 0 and named in proc.stderr, proc.stderr


def test_a_selector_that_takes_grafanas_pods_too_is_caught() -> None:
    objects = render("-f", str(CHART / "values-prod.yaml"))
    assert policy.selectors_match(objects) == []
    for o in objects:
        if o["kind"] in ("StatefulSet", "PodDisruptionBudget"):
            del o["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
    found = policy.selectors_match(objects)
    assert len(found) == 2 and all("Deployment/scout-scout-stream-grafana" in p for p in found), found
