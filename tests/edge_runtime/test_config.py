"""edge.toml: the example loads, paths stay inside their folders, secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_and_anchors_paths() -> None:
    cfg = load_config(ROOT / "edge.example.toml")
    assert cfg.device_id == "SCOUTPI-0006"
    assert cfg.outbox.path == ROOT / "outbox.sqlite3"
    assert [z.name for z in cfg.vision.zones] == ["counter", "shelf"]
    assert cfg.model_path(cfg.speech.vad_model).name == "silero_vad.onnx"
    assert cfg.model_path(cfg.vision.model) == (ROOT / "models" / "centerface_640x448.int8.onnx").resolve()


def test_model_paths_may_not_escape_models_dir(tmp_path: Path) -> None:
    cfg = load_config(None, device_id="d", store_id="s", models_dir=tmp_path)
    with pytest.raises(ValueError, match="escapes"):
        cfg.model_path("../secrets/key.onnx")
    with pytest.raises(ValueError, match="escapes"):
        cfg.model_path("/etc/passwd")
    with pytest.raises(ValueError, match="escapes"):
        cfg.model_path("pkg:silero_vad/../../../etc/passwd")


def test_environment_overrides_file_and_secrets_are_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "edge.toml"
    toml.write_text('device_id = "A"\nstore_id = "S"\n[publisher.kafka]\nsasl_password_file = "pw.txt"\n')
    (tmp_path / "pw.txt").write_text("hunter2\n")
    monkeypatch.setenv("SCOUT_EDGE_DEVICE_ID", "B")
    cfg = load_config(toml)
    assert cfg.device_id == "B"
    secret = cfg.publisher.kafka.sasl_password
    assert secret is not None and secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(cfg) and "hunter2" not in cfg.model_dump_json()


def test_bad_zone_is_rejected(tmp_path: Path) -> None:
    toml = tmp_path / "edge.toml"
    toml.write_text(
        'device_id = "A"\nstore_id = "S"\n[vision]\nzones = [{name = "x", polygon = [[0, 0], [2, 0], [1, 1]]}]\n'
    )
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        load_config(toml)


def test_missing_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    toml = tmp_path / "edge.toml"
    toml.write_text('device_id = "A"\nstore_id = "S"\n[publisher.eventhubs]\nconnection_string_file = "nope.txt"\n')
    with pytest.raises(ValueError, match="cannot read secret file"):
        load_config(toml)


def test_the_agent_needs_no_model_building_or_cloud_package() -> None:
    """A Pi installs only the [edge] extra: onnx, scikit-image, bytewax, chdb must not be needed to run the agent."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for m in ('onnx', 'skimage', 'bytewax', 'chdb', 'clickhouse_connect', 'dataflows', 'torch'):\n"
        "    sys.modules[m] = None\n"
        "import edge_runtime.agent, edge_runtime.cli, edge_runtime.vision.brands\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
