"""``scout grafana push`` against a local HTTP server that checks request shapes (NOT Grafana; see fake_grafana)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grafana.alerts import RULES
from grafana.dashboards import build_all
from grafana.datasource import DATASOURCE_UID, FOLDER_TITLE, FOLDER_UID
from grafana.provisioning import ClickHouseEndpoint
from grafana.push import PushError, push
from tests.grafana.fake_grafana import FakeGrafana
from tests.kafka_broker import free_port

TOKEN = "glsa_test_token_0123456789"
PASSWORD = "ro-secret-pw-42"
ENDPOINT = ClickHouseEndpoint(host="clickhouse.internal", port=8443, secure=True)
EVERYTHING = 2 + len(build_all()) + len(RULES)  # folder, datasource, dashboards, rules


def test_first_push_creates_everything_with_valid_requests_and_second_push_writes_nothing() -> None:
    with FakeGrafana(TOKEN) as g:
        first = push(g.url, TOKEN, ENDPOINT, PASSWORD)
        assert len(first.created) == EVERYTHING, first
        assert not first.updated
        assert all(r.status < 400 or (r.method == "GET" and r.status == 404) for r in g.state.requests), [
            (r.method, r.path, r.status) for r in g.state.requests if r.status >= 400
        ]
        assert set(g.state.dashboards) == {d["uid"] for d in build_all()}
        assert all(d["meta"]["folderUid"] == FOLDER_UID for d in g.state.dashboards.values())
        assert set(g.state.rules) == {r.uid for r in RULES}
        ds = g.state.datasources[DATASOURCE_UID]
        assert ds["jsonData"]["host"] == "clickhouse.internal" and ds["jsonData"]["username"] == "scout_grafana"
        assert ds["secureJsonFields"] == {"password": True}
        writes_before = len(g.state.writes())

        second = push(g.url, TOKEN, ENDPOINT, PASSWORD)
        assert len(second.unchanged) == EVERYTHING and not second.written, second
        assert len(g.state.writes()) == writes_before, [(r.method, r.path) for r in g.state.writes()[writes_before:]]


def test_a_changed_dashboard_is_updated_alone() -> None:
    with FakeGrafana(TOKEN) as g:
        push(g.url, TOKEN, ENDPOINT, PASSWORD)
        uid = build_all()[0]["uid"]
        g.state.dashboards[uid]["dashboard"]["title"] = "edited by hand in the UI"
        report = push(g.url, TOKEN, ENDPOINT, PASSWORD)
        assert report.updated == [f"dashboard:{uid}"]
        assert g.state.dashboards[uid]["dashboard"]["title"] == build_all()[0]["title"]


def test_wrong_token_is_a_clear_error_and_nothing_is_written() -> None:
    with FakeGrafana(TOKEN) as g:
        with pytest.raises(PushError, match=r"refused the token \(HTTP 401\); nothing was written"):
            push(g.url, "wrong-token", ENDPOINT, PASSWORD)
        assert not g.state.writes()


def test_unreachable_grafana_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PushError, match=r"cannot reach Grafana at http://127\.0\.0\.1:\d+"):
        push(f"http://127.0.0.1:{port}", TOKEN, ENDPOINT, PASSWORD, timeout_s=2)


def test_a_folder_with_our_title_and_another_uid_stops_the_push_before_any_write() -> None:
    with FakeGrafana(TOKEN) as g:
        g.state.folders["someone-elses"] = {"uid": "someone-elses", "title": FOLDER_TITLE, "id": 1}
        with pytest.raises(PushError, match=r"already exists with uid 'someone-elses'.*nothing was written"):
            push(g.url, TOKEN, ENDPOINT, PASSWORD)
        assert not g.state.writes()


def test_a_failure_half_way_reports_what_was_already_written() -> None:
    with FakeGrafana(TOKEN) as g:
        g.state.fail[("POST", "/api/v1/provisioning/alert-rules")] = 500
        with pytest.raises(PushError) as caught:
            push(g.url, TOKEN, ENDPOINT, PASSWORD)
        message = str(caught.value)
        assert "failed at alert rules: HTTP 500" in message
        assert f"already written: folder:{FOLDER_UID}, datasource:{DATASOURCE_UID}, dashboard:" in message
        for d in build_all():
            assert f"dashboard:{d['uid']}" in message
        # the next push (failure gone) finishes the job and leaves the rest unchanged
        g.state.fail.clear()
        report = push(g.url, TOKEN, ENDPOINT, PASSWORD)
        assert report.created == [f"alert-rule:{r.uid}" for r in RULES]


def test_creating_the_datasource_needs_the_password() -> None:
    with FakeGrafana(TOKEN) as g:
        with pytest.raises(PushError, match="needs the read-only user's password"):
            push(g.url, TOKEN, ENDPOINT, None)
        assert [r.path for r in g.state.writes()] == ["/api/folders"]  # reported in the message too


def test_cli_push_reads_secrets_from_files_and_env_and_never_prints_them(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with FakeGrafana(TOKEN) as g:
        env = {**os.environ, "SCOUT_CH_GRAFANA_PASSWORD": PASSWORD}
        env.pop("GRAFANA_TOKEN", None)
        run = [sys.executable, "-m", "scout_cli", "grafana", "push", "--url", g.url]
        ok = subprocess.run(
            [*run, "--token-file", str(token_file)], capture_output=True, text=True, timeout=120, env=env, check=False
        )
        assert ok.returncode == 0, ok.stderr
        assert f"{EVERYTHING} created, 0 updated, 0 unchanged" in ok.stdout
        again = subprocess.run(
            run, capture_output=True, text=True, timeout=120, env=env | {"GRAFANA_TOKEN": TOKEN}, check=False
        )
        assert f"0 created, 0 updated, {EVERYTHING} unchanged" in again.stdout, again.stderr
        refused = subprocess.run(
            run, capture_output=True, text=True, timeout=120, env=env | {"GRAFANA_TOKEN": "nope"}, check=False
        )
        assert refused.returncode == 6
        assert "refused the token" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        for proc in (ok, again, refused):
            assert TOKEN not in proc.stdout + proc.stderr and PASSWORD not in proc.stdout + proc.stderr


def test_the_token_never_goes_in_clear_text_to_a_host_that_is_not_loopback() -> None:
    """Refused before any connection (``.invalid`` never resolves, so nothing could leave anyway)."""
    with pytest.raises(PushError, match=r"clear text to grafana\.invalid.*nothing was written"):
        push("http://grafana.invalid:3000", TOKEN, ENDPOINT, PASSWORD, timeout_s=2)
    with FakeGrafana(TOKEN) as g:  # loopback over http stays allowed (a port-forward, a sidecar)
        assert push(g.url, TOKEN, ENDPOINT, PASSWORD).created


def test_messages_never_show_a_password_in_the_url(tmp_path: Path) -> None:
    env = {**os.environ, "GRAFANA_TOKEN": TOKEN, "SCOUT_CH_GRAFANA_PASSWORD": PASSWORD}
    for url in ("http://admin:hunter2@grafana.invalid:3000", "http://grafana.invalid/?password=hunter2",
                "ftp://admin:hunter2@grafana.invalid/"):  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "scout_cli", "grafana", "push", "--url", url],
                              capture_output=True, text=True, timeout=120, env=env, check=False)  # fmt: skip
        assert proc.returncode == 6, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "hunter2" not in proc.stderr + proc.stdout
    unreachable = free_port()
    with pytest.raises(PushError) as caught:
        push(f"http://admin:hunter2@127.0.0.1:{unreachable}", TOKEN, ENDPOINT, PASSWORD, timeout_s=2)
    assert "cannot reach" in str(caught.value) and "hunter2" not in str(caught.value)
