"""The shared bundle package imports no engine and neither half (like the event contract)."""

from __future__ import annotations

import subprocess
import sys


def test_bundles_import_no_engine_and_neither_half() -> None:
    code = (
        "import sys, scout_bundles.manifest, scout_bundles.signing, scout_bundles.archive, scout_bundles.registry,"
        " scout_bundles.health, scout_bundles.files;"
        "bad = [m for m in ('bytewax', 'onnxruntime', 'clickhouse_connect', 'chdb', 'dataflows', 'edge_runtime',"
        " 'grafana', 'bundle_tooling') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
