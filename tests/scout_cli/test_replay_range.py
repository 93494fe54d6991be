"""``scout replay`` refuses a range no record can carry with one line and exit 2 (an OverflowError
with a traceback before), for both ends and both sources, before it opens anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("since", "until"),
    [("0001-01-01T00:00Z", "0001-01-02T00:00Z"), ("9999-12-31T00:00Z", "9999-12-31T10:00Z"),
     ("2025-05-19T00:00Z", "9999-12-31T10:00Z"), ("1969-12-31T23:00Z", "2025-05-19T00:00Z")],
)  # fmt: skip
def test_a_replay_outside_the_record_times_is_a_one_line_usage_error(tmp_path: Path, since: str, until: str) -> None:
    for source in (["--from-bronze"], ["--source", "kafka://127.0.0.1:9"]):
        proc = subprocess.run(
            [sys.executable, "-m", "scout_cli", "replay", *source, "--since", since, "--until", until,
             "--sink", f"chdb://{tmp_path / 'ch'}"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        [line] = proc.stderr.strip().splitlines()
        assert "outside the times a record can carry" in line and "Traceback" not in proc.stderr
        assert not (tmp_path / "ch").exists()  # refused before anything was opened or created
