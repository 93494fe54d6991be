"""``scout contract check``: topic files against the contract and the rules, as the bronze step would."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataflows import contract_check
from dataflows.bronze.rules import load_rules
from dataflows.bronze.validate import Validator
from dataflows.simulator import SimConfig, simulate
from dataflows.sources.file import read_batches
from scout_cli import app
from tests.factories import NOW, break_ranges, record, stt, visual, write_records


def _row_path(path: Path, validator: Validator) -> tuple[Counter[str], Counter[str]]:
    """Accepted and quarantined records per stream, as the row path (the dataflow today) decides them."""
    accepted: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    for records in read_batches([path]):
        result = validator.validate(records)
        accepted.update(a.stream for a in result.accepted)
        quarantined.update(q.stream for q in result.quarantine_rows)
    return accepted, quarantined


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SimConfig(stores=1, devices_per_store=2, hours=0.5, malformed_rate=0.05, seed=11)
    path = tmp_path_factory.mktemp("check") / "dirty.jsonl"
    write_records(path, break_ranges(list(simulate(cfg)), seed=11))
    with path.open("ab") as f:
        f.write(b'{"topic": "eh-pi-stt-raw", "partition": 0, "offset": 99')  # a torn last line
    return path


def test_a_file_with_bad_records_exits_1_and_lists_them(dirty: Path, tmp_path: Path) -> None:
    out = tmp_path / "quarantine.jsonl"
    result = CliRunner().invoke(app, ["contract", "check", str(dirty), "--quarantine-out", str(out)])
    assert result.exit_code == 1, result.output
    accepted, quarantined = _row_path(dirty, Validator(load_rules()))
    rows = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert Counter(r["stream"] for r in rows) == quarantined and sum(quarantined.values()) > 20
    for stream, n in accepted.items():
        assert f"│ {stream} " in result.output and f"{n:,}" in result.output
    assert "record_envelope" in result.output  # the torn last line
    assert "compiled decode path" in result.output


def test_the_compiled_and_the_pure_python_path_report_the_same(dirty: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    validator = Validator(load_rules(), now_ms=lambda: NOW)
    compiled = contract_check.check_files([dirty], validator)
    monkeypatch.setattr(contract_check, "compiled_decoder", lambda _v: None)
    python = contract_check.check_files([dirty], validator)
    assert compiled.compiled and compiled.cleared > 0.8 * compiled.records
    assert not python.compiled and python.cleared == 0
    assert (compiled.records, compiled.accepted, compiled.quarantined, compiled.failed) == (
        python.records, python.accepted, python.quarantined, python.failed
    )  # fmt: skip


def test_a_clean_file_exits_0(tmp_path: Path) -> None:
    path = write_records(tmp_path / "clean.jsonl", [record(stt(NOW - 60_000)), record(visual(NOW - 50_000))])
    result = CliRunner().invoke(app, ["contract", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 records" in result.output and "Rules that fail" not in result.output


def test_a_fail_rule_exits_3_naming_the_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {name: strict_conf, streams: [stt], check: range, field: confidence, max: 0.5, action: fail}\n"
    )
    path = write_records(tmp_path / "t.jsonl", [record(stt(NOW - 60_000))])
    result = CliRunner().invoke(app, ["contract", "check", str(path), "--rules", str(rules)])
    assert result.exit_code == 3, result.output
    assert "strict_conf" in result.output
