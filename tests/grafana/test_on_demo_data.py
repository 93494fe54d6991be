"""Every panel and alert query on the real tables: the demo's data in chDB, through the real CLI.

``scout demo`` runs once per session (simulated stores → dataflow → chDB);
the checks run as ``scout`` subprocesses (chDB allows one data path per
process). The preview page the demo writes is opened in Debian's headless
Chromium; its screenshot is kept as a test artifact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grafana.dashboards import build_all
from grafana.panel_data import query_panels
from tests.e2e.conftest import Scout

pytestmark = pytest.mark.slow
ARTIFACTS = Path(
    os.environ.get("SCOUT_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / ".scout" / "test-artifacts")
)
PANELS = sum(len(query_panels(d)) for d in build_all())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Scout:
    workdir = tmp_path_factory.mktemp("grafana-demo")
    scout = Scout(workdir)
    proc = scout("demo", "--workdir", str(workdir), timeout=600)
    assert f"Dashboards preview (open in a browser): {workdir / 'dashboards.html'}" in proc.stdout
    return scout


def test_every_panel_and_alert_query_runs_on_the_demo_tables(demo: Scout) -> None:
    proc = demo("grafana", "check", "--sink", demo.sink, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(f"4 dashboards, {PANELS} panels: 0 problems")


def _edit_panel(dashboards_dir: Path, uid: str, title: str, old: str, new: str) -> None:
    path = dashboards_dir / f"{uid}.json"
    dashboard = json.loads(path.read_text())
    panel = next(p for p in dashboard["panels"] if p["title"] == title)
    sql = panel["targets"][0]["rawSql"]
    assert old in sql, sql
    panel["targets"][0]["rawSql"] = sql.replace(old, new)
    path.write_text(json.dumps(dashboard))


def test_the_sql_check_catches_seeded_defects(demo: Scout, tmp_path: Path) -> None:
    demo("grafana", "build", "--out", str(tmp_path))
    dashboards = tmp_path / "dashboards"
    clean = demo("grafana", "check", "--sink", demo.sink, "--dashboards", str(dashboards), check=False)
    assert clean.returncode == 0, clean.stdout
    store = "scout-store-interactions"
    _edit_panel(dashboards, store, "Interactions per store", "sum(interactions)", "sum(interactons)")
    _edit_panel(
        dashboards, store, "Latest interactions", "ORDER BY started_at", "AND store_id = 'NO-SUCH' ORDER BY started_at"
    )
    _edit_panel(dashboards, "scout-device-health", "Heartbeats received vs expected",
                "SELECT $__timeInterval(window_start) AS time, sum(heartbeats_received) AS received",
                "SELECT sum(heartbeats_received) AS received, $__timeInterval(window_start) AS time")  # fmt: skip
    proc = demo("grafana", "check", "--sink", demo.sink, "--dashboards", str(dashboards), check=False)
    assert proc.returncode == 1
    out = proc.stdout
    assert re.search(r"Interactions per store: query failed: .*interactons", out), out
    assert f"{store} / Latest interactions: the query returned no rows" in out
    assert "Heartbeats received vs expected: a time series needs a first column `time`" in out
    assert "problems" in out.splitlines()[-1] and not out.splitlines()[-1].endswith(": 0 problems")


def _chromium() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's chromium is needed (make test installs it: `make system-tools`)"
    return found


@pytest.fixture(scope="module")
def rendered(demo: Scout) -> Iterator[tuple[str, Path]]:
    page = demo.workdir / "dashboards.html"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboards-preview.png"
    with tempfile.TemporaryDirectory() as profile:
        flags = [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1600,9000",
            "--virtual-time-budget=30000",
        ]  # fmt: skip
        dom = subprocess.run(
            [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180, check=True
        ).stdout
        subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180, check=True)
    yield dom, shot


def test_the_preview_draws_every_panel_in_a_browser(rendered: tuple[str, Path]) -> None:
    dom, shot = rendered
    sections = re.findall(r'<section class="panel"(.*?)</section>', dom, re.DOTALL)
    assert len(sections) == PANELS
    for section in sections:
        title = re.search(r"<h4>(.*?)</h4>", section)
        assert "panel-error" not in section, title
        drawn = re.search(r'data-drawn="(\d+)"', section)
        assert drawn and int(drawn.group(1)) >= 1, title  # Plotly finished drawing at least one trace
        assert 'class="main-svg"' in section, title  # and an SVG chart is in the page
    assert shot.stat().st_size > 100_000  # a real picture, kept as an artifact


def test_the_preview_shows_the_demo_numbers(demo: Scout, rendered: tuple[str, Path]) -> None:
    dom, _ = rendered
    interactions = demo.query("SELECT sum(interactions) AS n FROM gold_store_interaction_metrics FINAL")[0]["n"]
    offline = demo.query(
        "SELECT device_id FROM gold_device_health_summary FINAL GROUP BY device_id "
        "HAVING argMax(status, window_start) = 'OFFLINE'"
    )
    section = re.search(r'data-panel="scout-store-interactions-2".*?</section>', dom, re.DOTALL)
    assert section and f">{interactions}<" in section.group(0)  # the Interactions stat, as drawn
    for row in offline:  # the state timeline names the device that went offline
        assert row["device_id"] in dom
