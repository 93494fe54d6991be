"""Hostile input and broken surroundings, through the real CLI, chDB and Bytewax.

Every failure path is bounded by the subprocess ``timeout`` (a hang fails the test); nothing is
killed by hand. Not covered here: a real ClickHouse server (the TLS and timeout tests talk to a
local listener that only records bytes or stays silent — it is not ClickHouse).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataflows.simulator import SimConfig, simulate, write_topic_file
from dataflows.tables import of_layer
from scout_contract import encode_record_line
from tests.e2e.conftest import Scout
from tests.factories import T0, heartbeat, hostile_lines, record, stt, visual, write_records

pytestmark = pytest.mark.slow

#: Bound on any failure path: it must end well within this (seconds).
BOUND_S = 60


@pytest.fixture(scope="module")
def hostile_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    sim = folder / "sim.jsonl"
    write_topic_file(simulate(SimConfig(stores=1, devices_per_store=2, hours=0.5, seed=3, malformed_rate=0)), sim)
    valid = [line for line in sim.read_bytes().splitlines() if line.strip()]
    path = folder / "hostile.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in hostile_lines(valid, len(valid), seed=7)))
    return path


def test_a_hostile_file_never_stops_the_dataflow_and_every_line_is_kept(scout: Scout, hostile_file: Path) -> None:
    recovery = scout.workdir / "recovery"
    first = scout.run(hostile_file, "--recovery-dir", str(recovery), "--close-sessions-at-end")
    assert "Traceback" not in first.stderr
    # records are lines ended by \n (a stray \r or \x0c inside random bytes is data, not a line break)
    lines = sum(1 for line in hostile_file.read_bytes().split(b"\n") if line.strip())
    c = scout.accounted()
    assert c["quarantined"] > lines // 5, c  # the hostile lines really are in the input
    assert c["bronze"] + c["quarantined"] + c["duplicates"] + c["late_logged"] - c["late"] == lines, c
    # every class the issue names ends as a quarantine row with a reason, bytes kept
    reasons = " ".join(r["reasons"] for r in scout.query("SELECT toString(reasons) AS reasons FROM quarantine_events"))
    for needle in ("UnicodeDecodeError", "base64", "RecursionError", "offset", "timestamp_ms", "truncated"):
        assert needle in reasons, needle
    # a resume of the same run starts after the end: nothing stops it, nothing changes
    before = scout.accounted()
    scout.run(hostile_file, "--recovery-dir", str(recovery), "--close-sessions-at-end")
    assert scout.accounted()["bronze"] == before["bronze"]
    assert all(t["ok"] for t in scout.verify())


def test_quarantine_rows_of_two_files_never_replace_each_other(scout: Scout, tmp_path: Path) -> None:
    good = encode_record_line(record(stt(T0))) + b"\n"
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_bytes(b"{torn\n" + good + b"\xff\xfe\n")
    scout.run(tmp_path / "a.jsonl")
    scout.run(tmp_path / "b.jsonl")
    rows = scout.query("SELECT topic, offset FROM quarantine_events FINAL ORDER BY topic, offset")
    assert len(rows) == 4 and len({r["topic"] for r in rows}) == 2


def test_a_write_the_warehouse_refuses_ends_the_run_with_exit_4(scout: Scout, tmp_path: Path) -> None:
    events = write_records(tmp_path / "e.jsonl", [record(visual(T0)), record(stt(T0 + 1_000))])
    scout("db", "migrate", "--sink", scout.sink)
    code = (
        "import sys, clickhouse_connect; c = clickhouse_connect.get_client(dsn=sys.argv[1]);"
        "c.command('ALTER TABLE bronze_visual_stream ADD CONSTRAINT refuse_all CHECK 0')"
    )
    subprocess.run([sys.executable, "-c", code, scout.sink], check=True, timeout=BOUND_S)
    proc = scout(
        "run", "--source", f"file:{events}", "--sink", scout.sink, "--no-summary", check=False, timeout=BOUND_S
    )
    assert proc.returncode == 4, proc.stderr
    assert "warehouse error: writing to the warehouse failed" in proc.stderr and "VIOLATED_CONSTRAINT" in proc.stderr
    assert "Traceback" not in proc.stderr


def _limit_file_size() -> None:
    """A full disk, as a writer sees it: every write past 256 KB in one file fails (EFBIG), not a kill."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))


def test_a_full_disk_ends_the_run_promptly_with_a_clear_error(scout: Scout, tmp_path: Path) -> None:
    events = tmp_path / "big.jsonl"
    write_topic_file(simulate(SimConfig(stores=2, devices_per_store=2, hours=3, seed=2)), events)
    args = [sys.executable, "-m", "scout_cli", "run", "--source", f"file:{events}", "--sink", scout.sink,
            "--no-summary"]  # fmt: skip
    env = {**os.environ, "SCOUT_SINK_FLUSH_ROWS": "5000"}
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=BOUND_S, env=env,
                          preexec_fn=_limit_file_size, check=False)  # fmt: skip
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "warehouse error" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["summary", "--sink", "chdb://./typo"], {}, 4, "no warehouse at"),
        (["db", "verify", "--sink", "chdb://./a-file"], {}, 4, "is a file, not a chDB directory"),
        (["summary"], {"SCOUT_CONFIG": "missing.toml"}, 2, "SCOUT_CONFIG names 'missing.toml'"),
        (["db", "migrate", "--sink", "chdb://./ch2"], {"SCOUT_DAY_TIMEZONE": "Mars/Olympus"}, 2, "unknown time zone"),
        (["run", "--source", "file:e.jsonl", "--sink", "chdb://./ch3", "--rules", "nope.yaml"], {}, 2,
         "cannot read the rules file"),
        (["simulate", "--out", "x.jsonl", "--stores", "-1"], {}, 2, "--stores"),
        (["simulate", "--out", "x.jsonl", "--late-rate", "1.5"], {}, 2, "--late-rate"),
        (["db", "migrate", "--sink", "http://ch.example.invalid:8123/scout"], {"SCOUT_CLICKHOUSE_PASSWORD": "pw"}, 4,
         "refusing to send the ClickHouse password in clear text"),
        (["db", "migrate", "--sink", "https://user:pw@ch.example.invalid/scout"], {}, 4, "must not hold credentials"),
    ],
)  # fmt: skip
def test_bad_settings_get_one_clear_line_and_their_exit_code(
    scout: Scout, args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    (scout.workdir / "a-file").write_text("not a warehouse")
    write_records(scout.workdir / "e.jsonl", [record(stt(T0))])
    proc = scout(*args, env=env, check=False, timeout=BOUND_S)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "pw" not in proc.stdout + proc.stderr.replace("password", "")  # a secret is never printed
    assert not (scout.workdir / "typo").exists(), "a read command must not create a mistyped warehouse"
    assert not (scout.workdir / "ch2").exists(), "settings are checked before anything is created"


def test_a_busy_metrics_port_is_a_usage_error(scout: Scout, tmp_path: Path) -> None:
    events = write_records(tmp_path / "e.jsonl", [record(stt(T0))])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = scout("run", "--source", f"file:{events}", "--sink", scout.sink, "--metrics-port", str(port),
                     check=False, timeout=BOUND_S)  # fmt: skip
    assert proc.returncode == 2 and f"cannot serve metrics on 127.0.0.1:{port}" in proc.stderr


def test_a_warehouse_open_in_another_process_is_named(scout: Scout) -> None:
    scout("db", "migrate", "--sink", scout.sink)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dataflows.warehouse import connect; connect(sys.argv[1]);"
         "print('open', flush=True); time.sleep(30)", scout.sink],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        proc = scout("summary", "--sink", scout.sink, check=False, timeout=BOUND_S)
        assert proc.returncode == 4 and "is open in another process" in proc.stderr
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_db_query_is_read_only_at_the_engine(scout: Scout) -> None:
    scout("db", "migrate", "--sink", scout.sink)
    dropped = scout("db", "query", "DROP TABLE gold_brand_performance", "--sink", scout.sink, check=False)
    assert dropped.returncode == 4 and "readonly" in dropped.stderr.lower()
    written = scout("db", "query", "INSERT INTO FUNCTION file('x.csv', 'CSV') SELECT 1", "--sink", scout.sink,
                    check=False)  # fmt: skip
    assert written.returncode == 4
    assert scout.query("EXISTS TABLE gold_brand_performance") == [{"result": 1}]


# -- a ClickHouse server that is not there, or not ClickHouse ---------------------------------


class _Listener:
    """A TCP listener on 127.0.0.1 that records the first bytes of each connection (not a ClickHouse server)."""

    def __init__(self, silent: bool) -> None:
        self.silent = silent
        self.first_bytes: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        held: list[socket.socket] = []
        deadline = time.monotonic() + BOUND_S
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                self.first_bytes.append(conn.recv(4096))
            except OSError:
                self.first_bytes.append(b"")
            if self.silent:
                held.append(conn)  # accept, read, never answer
            else:
                conn.close()
        for conn in held:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener(request: pytest.FixtureRequest) -> Iterator[_Listener]:
    server = _Listener(silent=bool(getattr(request, "param", False)))
    yield server
    server.close()


@pytest.mark.parametrize("path", ["/scout", ""])
def test_an_https_dsn_opens_tls_on_any_port_and_never_sends_the_password_in_clear(
    scout: Scout, listener: _Listener, path: str
) -> None:
    env = {"SCOUT_CLICKHOUSE_USER": "writer", "SCOUT_CLICKHOUSE_PASSWORD": "hunter2-secret"}
    proc = scout("db", "migrate", "--sink", f"https://127.0.0.1:{listener.port}{path}", env=env, check=False,
                 timeout=BOUND_S)  # fmt: skip
    assert proc.returncode == 4 and "cannot connect to ClickHouse" in proc.stderr
    assert listener.first_bytes, "the client never connected"
    for first in listener.first_bytes:
        assert first[:1] == b"\x16" and first[1:2] == b"\x03", f"not a TLS ClientHello: {first[:40]!r}"
        assert b"Authorization" not in first and b"hunter2" not in first
    assert "hunter2" not in proc.stdout + proc.stderr


def test_an_unreachable_server_is_one_line_not_a_traceback(scout: Scout) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = scout("db", "migrate", "--sink", f"http://127.0.0.1:{port}/scout", check=False, timeout=BOUND_S)
    assert proc.returncode == 4 and "cannot connect to ClickHouse at http://127.0.0.1" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("listener", [True], indirect=True)
def test_a_server_that_never_answers_times_out_as_configured(scout: Scout, listener: _Listener) -> None:
    env = {"SCOUT_CLICKHOUSE_SEND_RECEIVE_TIMEOUT_S": "2"}
    started = time.monotonic()
    proc = scout("db", "migrate", "--sink", f"http://127.0.0.1:{listener.port}/scout", env=env, check=False,
                 timeout=BOUND_S)  # fmt: skip
    assert proc.returncode == 4 and "timed out" in proc.stderr.lower()
    assert time.monotonic() - started < BOUND_S  # bounded by the setting, not by the 300 s default


# -- time: a device clock years ahead ---------------------------------------------------------


def test_a_device_clock_years_ahead_is_quarantined_and_cannot_flood_gold(scout: Scout, tmp_path: Path) -> None:
    ahead = 4_102_444_800_000  # 2100-01-01
    recs = [record(heartbeat(T0)), record(heartbeat(ahead, device="SCOUTPI-0002"), record_ts=ahead)]
    events = write_records(tmp_path / "e.jsonl", recs)
    scout.run(events)
    [q] = scout.query("SELECT rules FROM quarantine_events FINAL")
    assert q["rules"] == ["ts_not_after_ingest"]
    # with that rule relaxed to a warning the event is kept: gold work and rows stay bounded by the data
    rules = (Path(__file__).parents[2] / "dataflows" / "resources" / "rules.yaml").read_text()
    relaxed = tmp_path / "rules.yaml"
    relaxed.write_text(rules.replace("check: ts_max_ahead_of_ingest, max_seconds: 3600, action: drop",
                                     "check: ts_max_ahead_of_ingest, max_seconds: 3600, action: warn"))  # fmt: skip
    other = Scout(tmp_path / "relaxed")
    other.workdir.mkdir()
    other("run", "--source", f"file:{events}", "--sink", other.sink, "--no-summary", "--rules", str(relaxed),
          timeout=BOUND_S)  # fmt: skip
    [n] = other.query("SELECT count() AS n FROM gold_device_health_summary FINAL")
    assert n["n"] <= 2 + 48, n  # one row per heartbeat hour + at most offline_rows_h OFFLINE hours
    assert all(t["ok"] for t in other.verify())


# -- a file still being written ---------------------------------------------------------------


def test_resuming_a_growing_file_loses_nothing_and_equals_a_clean_run(scout: Scout, tmp_path: Path) -> None:
    full = tmp_path / "full.jsonl"
    write_topic_file(simulate(SimConfig(stores=1, devices_per_store=2, hours=1, seed=9)), full)
    data = full.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 40  # half-way through a line
    growing = tmp_path / "growing.jsonl"
    growing.write_bytes(data[:cut])
    recovery = tmp_path / "recovery"
    scout.run(growing, "--recovery-dir", str(recovery))
    assert all(t["ok"] for t in scout.verify()), "a resumable run keeps its last sessions open; verify agrees"
    with growing.open("ab") as f:
        f.write(data[cut:])
    scout.run(growing, "--recovery-dir", str(recovery), "--close-sessions-at-end")
    assert all(t["ok"] for t in scout.verify())
    torn_line = data[data.rindex(b"\n", 0, cut) + 1 : data.index(b"\n", cut)]
    torn_id = json.loads(torn_line)["value"]["event_id"] if b'"value":{' in torn_line else None
    clean = Scout(tmp_path / "clean")
    clean.workdir.mkdir()
    clean.run(full)
    for table in ("bronze_stt_raw", "bronze_visual_stream", "silver_multimodal_aligned", "quarantine_events"):
        sql = f"SELECT count() AS n FROM {table} FINAL"
        assert scout.query(sql) == clean.query(sql), table
    sql = ("SELECT interaction_id, n_utterances, n_frames FROM silver_multimodal_aligned FINAL "
           "ORDER BY interaction_id")  # fmt: skip
    assert scout.query(sql) == clean.query(sql)
    sql = "SELECT * EXCEPT updated_at FROM gold_store_interaction_metrics FINAL ORDER BY ALL"
    assert scout.query(sql) == clean.query(sql)
    if torn_id:
        union = " UNION ALL ".join(f"SELECT event_id FROM {t} FINAL" for t in of_layer("bronze"))
        assert scout.query(f"SELECT count() AS n FROM ({union}) WHERE event_id = '{torn_id}'") == [{"n": 1}]


def test_outbox_status_refuses_a_file_that_is_not_an_outbox(tmp_path: Path) -> None:
    not_outbox = tmp_path / "notes.txt"
    not_outbox.write_text("shopping list\n")
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'device_id = "SCOUTPI-0001"\nstore_id = "STORE-0001"\n[outbox]\npath = "{not_outbox}"\n')
    proc = subprocess.run([sys.executable, "-m", "edge_runtime.cli", "outbox", "status", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=BOUND_S, check=False)  # fmt: skip
    assert proc.returncode == 2 and "not an outbox" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not_outbox.read_text() == "shopping list\n"
