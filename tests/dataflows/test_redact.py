"""No secret from a DSN or URL reaches a message (``dataflows/redact.py`` and the sink's errors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dataflows.redact import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [("clickhouse://u:PW@ch.invalid/db", "clickhouse://***@ch.invalid/db"),
     ("https://ch.invalid/scout?password=PW", "https://ch.invalid/scout?password=***"),
     ("https://ch.invalid/x?user=bob&access_token=PW&db=scout", "https://ch.invalid/x?user=bob&access_token=***&db=scout"),
     ("http://PW@grafana.invalid", "http://***@grafana.invalid"),
     ("https://[::1/scout?password=PW", "<an address that cannot be parsed>"),
     ("chdb:///var/lib/scout", "chdb:///var/lib/scout")],
)  # fmt: skip
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "sink",
    ["https://ch.invalid/scout?password=hunter2", "clickhouse://u:hunter2@ch.invalid/db",
     "http://u:hunter2@ch.invalid/db", "https://[::1/scout?password=hunter2", "https://ch.invalid:hunter2/db"],
)  # fmt: skip
def test_a_bad_sink_is_one_line_without_its_secret(tmp_path: Path, sink: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "scout_cli", "db", "query", "SELECT 1", "--sink", sink],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode in (2, 4), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout
