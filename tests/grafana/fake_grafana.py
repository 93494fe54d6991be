"""A small HTTP server that answers the part of Grafana's API ``scout grafana push`` uses.

NOT Grafana: no Grafana server can run here (SPEC §6). It checks the shape
of each request (auth header, required fields, types) the way Grafana's API
documents them, keeps what was written so a second push can be compared, and
records every request. What it cannot tell — that Grafana would accept the
dashboard model or evaluate the alert rules — is said in grafana/README.md.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ALERT_RULE_FIELDS = {"uid", "title", "condition", "data", "folderUID", "ruleGroup", "for", "noDataState",
                     "execErrState", "orgID"}  # fmt: skip
DATASOURCE_FIELDS = {"name", "type", "uid", "access", "jsonData"}


@dataclass
class Request:
    method: str
    path: str
    body: Any
    status: int = 0


@dataclass
class State:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    #: (method, path regex) → status to answer instead (a failure injected by a test)
    fail: dict[tuple[str, str], int] = field(default_factory=dict)

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]


class BadShape(Exception):
    pass


def _need(body: Any, keys: set[str], what: str) -> None:
    if not isinstance(body, dict):
        raise BadShape(f"{what}: body is not a JSON object")
    missing = keys - body.keys()
    if missing:
        raise BadShape(f"{what}: missing {sorted(missing)}")


class _Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.state.requests[-1].status = status

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        path = self.path.split("?")[0]
        self.state.requests.append(Request(method, path, body))
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            return self._answer(401, {"message": "Unauthorized"})
        for (m, pattern), status in self.state.fail.items():
            if m == method and re.fullmatch(pattern, path):
                return self._answer(status, {"message": "injected failure"})
        try:
            status, answer = self._route(method, path, body)
        except BadShape as exc:
            status, answer = 400, {"message": f"bad request shape: {exc}"}
        self._answer(status, answer)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, object]:
        s = self.state
        if m := re.fullmatch(r"/api/folders/([^/]+)", path):
            uid = m.group(1)
            if method == "GET":
                return (200, s.folders[uid]) if uid in s.folders else (404, {"message": "folder not found"})
            if method == "PUT":
                s.folders[uid] = s.folders[uid] | {"title": body["title"]}
                return 200, s.folders[uid]
        if path == "/api/folders":
            if method == "GET":
                return 200, list(s.folders.values())
            _need(body, {"title", "uid"}, "folder")
            if any(f["title"] == body["title"] for f in s.folders.values()):
                return 409, {"message": "a folder with the same name already exists"}
            s.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "id": len(s.folders) + 1}
            return 200, s.folders[body["uid"]]
        if m := re.fullmatch(r"/api/datasources/uid/([^/]+)", path):
            uid = m.group(1)
            if method == "GET":
                return (200, s.datasources[uid]) if uid in s.datasources else (404, {"message": "not found"})
            _need(body, DATASOURCE_FIELDS, "datasource")
            s.datasources[uid] = self._stored_datasource(body, s.datasources[uid])
            return 200, {"datasource": s.datasources[uid]}
        if path == "/api/datasources" and method == "POST":
            _need(body, DATASOURCE_FIELDS, "datasource")
            s.datasources[body["uid"]] = self._stored_datasource(body, {"id": len(s.datasources) + 1})
            return 200, {"datasource": s.datasources[body["uid"]], "id": s.datasources[body["uid"]]["id"]}
        if m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path):
            uid = m.group(1)
            return (200, s.dashboards[uid]) if uid in s.dashboards else (404, {"message": "Dashboard not found"})
        if path == "/api/dashboards/db" and method == "POST":
            _need(body, {"dashboard", "folderUid", "overwrite"}, "dashboard save")
            _need(body["dashboard"], {"uid", "title", "panels", "schemaVersion"}, "dashboard")
            if body["folderUid"] not in s.folders:
                return 400, {"message": "folder not found"}
            uid = body["dashboard"]["uid"]
            version = s.dashboards.get(uid, {}).get("dashboard", {}).get("version", 0) + 1
            s.dashboards[uid] = {
                "dashboard": body["dashboard"] | {"id": len(s.dashboards) + 1, "version": version},
                "meta": {"folderUid": body["folderUid"], "slug": uid},
            }
            return 200, {"status": "success", "uid": uid, "version": version}
        if m := re.fullmatch(r"/api/v1/provisioning/alert-rules/([^/]+)", path):
            uid = m.group(1)
            if method == "GET":
                return (200, s.rules[uid]) if uid in s.rules else (404, {"message": "rule not found"})
            _need(body, ALERT_RULE_FIELDS, "alert rule")
            s.rules[uid] = body | {"id": s.rules[uid]["id"], "updated": "now", "provenance": "api"}
            return 200, s.rules[uid]
        if path == "/api/v1/provisioning/alert-rules" and method == "POST":
            _need(body, ALERT_RULE_FIELDS, "alert rule")
            if body["folderUID"] not in s.folders:
                return 400, {"message": "folder does not exist"}
            for item in body["data"]:
                _need(item, {"refId", "datasourceUid", "model"}, "alert query")
            s.rules[body["uid"]] = body | {"id": len(s.rules) + 1, "updated": "now", "provenance": "api"}
            return 201, s.rules[body["uid"]]
        return 404, {"message": f"no route {method} {path}"}

    @staticmethod
    def _stored_datasource(body: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        stored = {k: v for k, v in body.items() if k != "secureJsonData"} | {"id": old["id"], "orgId": 1}
        had = old.get("secureJsonFields", {})
        stored["secureJsonFields"] = had | {k: True for k in (body.get("secureJsonData") or {})}
        return stored

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")


class FakeGrafana:
    """``with FakeGrafana(token) as g: push(g.url, ...)`` — on 127.0.0.1, a free port."""

    def __init__(self, token: str) -> None:
        self.state = State(token)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGrafana:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
