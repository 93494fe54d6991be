"""The agent as a systemd service: the unit (checked by systemd-analyze), its installer, the watchdog.

What is not covered here: a real systemd starting the unit (none runs as PID 1 on these machines);
``systemd-analyze verify`` loads the unit as systemd would and reports every key it does not accept.
"""

from __future__ import annotations

import configparser
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_runtime.agent import Supervisor
from edge_runtime.cli import app
from edge_runtime.config import load_config
from edge_runtime.service import BUNDLE_DIR, OUTBOX_DIR, UNIT_NAME, ServiceNotifier, render_unit

ROOT = Path(__file__).resolve().parents[2]
SCOUT_EDGE = Path(sys.executable).parent / "scout-edge"


def _verify(unit: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / UNIT_NAME
    path.write_text(unit)
    return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_the_unit_passes_systemd_analyze_verify_without_a_word(tmp_path: Path) -> None:
    result = _verify(render_unit(SCOUT_EDGE, Path("/etc/scout-edge/edge.toml")), tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("defect", "old", "new"),
    [
        ("a misspelt key", "ProtectSystem=strict", "ProtectSytem=strict"),
        ("a value systemd cannot read", "RestartSec=10", "RestartSec=ten"),
        ("a program that is not there", f"ExecStart={SCOUT_EDGE}", "ExecStart=/opt/nowhere/scout-edge"),
    ],
)
def test_verify_catches_a_seeded_defect(tmp_path: Path, defect: str, old: str, new: str) -> None:
    unit = render_unit(SCOUT_EDGE, Path("/etc/scout-edge/edge.toml"))
    assert old in unit, defect
    result = _verify(unit.replace(old, new), tmp_path)
    assert result.returncode != 0 or result.stdout + result.stderr, defect


def test_the_unit_is_hardened_and_writes_only_the_outbox_and_the_bundle_store() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(render_unit(SCOUT_EDGE, Path("/etc/scout-edge/edge.toml"), user="pi-agent"))
    service = parser["Service"]
    expected = {
        "Type": "notify", "User": "pi-agent", "SupplementaryGroups": "video audio", "Restart": "on-failure",
        "RestartPreventExitStatus": "2", "WatchdogSec": "60", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "StandardOutput": "journal", "StandardError": "journal",
        "ReadWritePaths": "/var/lib/scout-edge/outbox /var/lib/scout-edge/bundles",
        "StateDirectory": "scout-edge/outbox scout-edge/bundles",
    }  # fmt: skip
    assert {k: service.get(k) for k in expected} == expected
    assert service["ExecStart"] == f"{SCOUT_EDGE} run --config /etc/scout-edge/edge.toml"


def test_install_service_writes_the_unit_and_the_config_once(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text((ROOT / "edge.example.toml").read_text())
    args = ["install-service", "--config", str(config), "--unit-dir", str(tmp_path / "units"),
            "--etc-dir", str(tmp_path / "etc")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    unit = (tmp_path / "units" / UNIT_NAME).read_text()
    assert f"ExecStart={SCOUT_EDGE} run --config {tmp_path / 'etc' / 'edge.toml'}\n" in unit
    # the service's config names the state folders itself, so that what an operator runs with it (scout-edge
    # models install --config /etc/scout-edge/edge.toml) acts on the store and outbox the service uses
    service = load_config(tmp_path / "etc" / "edge.toml")
    assert (service.updates.store, service.outbox.path) == (BUNDLE_DIR, OUTBOX_DIR / "outbox.sqlite3")
    written, mine = (tomllib.loads(p.read_text()) for p in (tmp_path / "etc" / "edge.toml", config))
    for table, key in (("updates", "store"), ("outbox", "path")):  # everything else as the device's file says
        written[table].pop(key), mine.get(table, {}).pop(key, None)
    assert written == mine | {"outbox": written["outbox"], "updates": mine.get("updates", {})}
    assert "SCOUT_EDGE_" not in unit  # one definition of those paths: the config
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output
    broken = tmp_path / "broken.toml"
    broken.write_text("heartbeat_interval_s = 0\n")
    refused = CliRunner().invoke(app, [*args[:1], "--config", str(broken), *args[3:], "--force"])
    assert refused.exit_code == 2 and "heartbeat_interval_s" in refused.output


def test_a_running_worker_without_progress_is_stuck_one_backing_off_is_not() -> None:
    supervisor = Supervisor(threading.Event(), final_failures=False)
    gate, failed = threading.Event(), threading.Event()

    def camera_read_that_does_not_return() -> None:
        gate.wait(30)

    def no_microphone() -> None:
        failed.set()
        raise RuntimeError("no microphone")

    supervisor.spawn("vision", camera_read_that_does_not_return)
    supervisor.spawn("speech", no_microphone)
    try:
        assert failed.wait(10)
        deadline = time.monotonic() + 10  # the supervisor marks it failing right after the raise
        while supervisor.states["speech"].state != "failing" and time.monotonic() < deadline:
            time.sleep(0.01)
        now = supervisor.states["vision"].pulse
        assert supervisor.stuck(60, now=now + 30) == []
        assert supervisor.stuck(60, now=now + 61) == ["vision"]  # speech is backing off: not stuck
        supervisor.pulse("vision")
        assert supervisor.stuck(60, now=supervisor.states["vision"].pulse + 1) == []
    finally:
        supervisor.stop.set()
        gate.set()


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    yield sock
    sock.close()


def test_the_notifier_says_ready_feeds_only_while_well_and_says_stopping(notify_socket: socket.socket) -> None:
    notifier = ServiceNotifier()
    assert notifier.interval_s == 60
    notifier.ready()
    assert notify_socket.recv(64) == b"READY=1"
    notifier.feed(well=False)
    notifier.feed(well=True)
    notifier.feed(well=True)  # within half the interval: not again
    notifier.stopping()
    assert notify_socket.recv(64) == b"WATCHDOG=1"
    assert notify_socket.recv(64) == b"STOPPING=1"


def test_outside_systemd_the_notifier_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    notifier = ServiceNotifier()
    assert notifier.interval_s is None
    notifier.ready()
    notifier.feed(well=True)
    notifier.stopping()
    assert OUTBOX_DIR.name == "outbox"
