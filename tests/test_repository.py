"""Checks of files that no engine here can run (stated, not skipped)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from dataflows.tables import COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def test_grafana_user_is_read_only_and_sees_gold_and_what_the_dashboards_read() -> None:
    """chDB has no users: the server users file is checked as XML, not executed.
    Not covered here: a real ClickHouse server enforcing these grants.

    Gold and freshness whole; silver interactions (the latest-sessions table) and the quality
    tables the Data quality dashboard reads (a decision recorded in grafana/README.md) — of the
    quarantine and late tables only columns without the raw payload or key; of bronze (the quarantine
    rate's denominator) only the key, version and ingest-time columns."""
    doc = ET.parse(ROOT / "clickhouse" / "users.d" / "scout-users.xml").getroot()
    grafana = doc.find("users/scout_grafana")
    assert grafana is not None
    profile = doc.find(f"profiles/{grafana.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") in ("1", "2")
    grants = [q.text or "" for q in grafana.findall("grants/query")]
    assert grants and all(g.startswith("GRANT SELECT") and " ON scout." in g for g in grants)
    granted = {g.rsplit(".", 1)[1]: g for g in grants}
    whole = {t for t in COLUMNS if t.startswith("gold_")} | {
        "pipeline_freshness",
        "pipeline_freshness_status",
        "silver_multimodal_aligned",
        "dq_rule_metrics",
    }
    bronze = {t for t in COLUMNS if t.startswith("bronze_")}
    assert set(granted) <= whole | {"quarantine_events", "late_events"} | bronze
    for table in ("quarantine_events", "late_events", *bronze):
        columns = granted[table].split("(", 1)[1].split(")", 1)[0].replace(" ", "").split(",")
        known = set(COLUMNS[table]) | ({"version"} if table in bronze else set())  # version: a DDL default
        assert set(columns) < known and "payload" not in columns and "key" not in columns
    for user in doc.findall("users/*"):
        pw = user.find("password")
        assert pw is not None and pw.get("from_env") and not (pw.text or "").strip(), "no password in the file"


def test_the_read_only_profile_caps_every_limit_it_sets() -> None:
    """``readonly = 2`` lets the Grafana user change session settings: every limit the profile sets is
    also a constraint's maximum, so a query cannot lift ``max_execution_time`` or ``max_result_rows``.
    Not covered here: a ClickHouse server refusing ``SET max_execution_time = 3600``."""
    doc = ET.parse(ROOT / "clickhouse" / "users.d" / "scout-users.xml").getroot()
    profile = doc.find("profiles/scout_readonly")
    assert profile is not None and profile.findtext("readonly") == "2"
    limits = {e.tag: e.text for e in profile if e.tag not in ("readonly", "constraints")}
    assert {"max_execution_time", "max_result_rows"} <= set(limits)
    constraints = profile.find("constraints")
    assert constraints is not None
    for name, value in limits.items():
        assert constraints.findtext(f"{name}/max") == value, f"{name} can be raised past {value}"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make demo" in readme


def test_the_cloud_extra_holds_every_library_the_dataflow_imports() -> None:
    """A server or a container installs ``.[cloud]`` only (the image, issue #22): every third-party module
    that ``dataflows`` imports must come from a distribution in that extra. (It once lacked
    confluent-kafka: ``scout run --source kafka://…`` failed with ``No module named 'confluent_kafka'``.)"""
    import ast
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    declared = [*project["project"]["optional-dependencies"]["cloud"], *project["project"]["dependencies"]]
    cloud = {canonicalize_name(Requirement(r).name) for r in declared}
    # scout_decode: the project's own compiled module (dataflows/bronze/native), optional: without it the
    # dataflow takes the pure-Python path (dataflows/bronze/columnar.py)
    own = {"scout_contract", "scout_bundles", "dataflows", "scout_decode"}
    imported: set[str] = set()
    for path in (root / "dataflows").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - own - set(sys.stdlib_module_names) - {"__future__"}
    dists = packages_distributions()
    missing = {m: dists.get(m) for m in third_party if not {canonicalize_name(d) for d in dists.get(m, [])} & cloud}
    assert not missing, f"imported by dataflows, not in the cloud extra: {missing}"
