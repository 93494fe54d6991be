from __future__ import annotations

from pathlib import Path

import pytest

from dataflows.config import load_settings


def test_precedence_is_flags_then_env_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "scout.toml"
    cfg.write_text('sink = "chdb:///from/file"\nbatch_size = 7\nsession_gap_s = 12.5\n[topics]\nstt = "my-stt"\n')
    monkeypatch.setenv("SCOUT_CONFIG", str(cfg))
    s = load_settings()
    assert (s.sink, s.batch_size, s.session_gap_s, s.topics.stt) == ("chdb:///from/file", 7, 12.5, "my-stt")
    monkeypatch.setenv("SCOUT_BATCH_SIZE", "9")
    assert load_settings().batch_size == 9
    assert load_settings(batch_size=11).batch_size == 11
    assert load_settings(batch_size=None).batch_size == 9
    assert load_settings().windows().session_gap_ms == 12_500


def test_password_comes_from_a_file_and_is_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SCOUT_CLICKHOUSE_PASSWORD_FILE", str(secret))
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("SCOUT_CONFIG", str(tmp_path / "empty.toml"))
    s = load_settings()
    assert s.clickhouse_password is not None and s.clickhouse_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.model_dump())


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("SCOUT_CONFIG", str(tmp_path / "empty.toml"))
    with pytest.raises(ValueError, match="batch_size"):
        load_settings(batch_size=0)
    with pytest.raises(ValueError, match="unknown_option"):
        load_settings(unknown_option=1)


def test_the_example_config_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / "scout.example.toml"
    monkeypatch.setenv("SCOUT_CONFIG", str(example))
    s = load_settings()
    assert s.sink == "chdb://./.scout/ch" and s.topics.annotated == "eh-pi-annotated-events"
    assert s.windows().out_of_orderness_ms == 10_000
