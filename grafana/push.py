"""``scout grafana push``: folder, datasource, dashboards and alert rules through Grafana's HTTP API.

Idempotent: each object is read first and only created or updated when it
differs from what would be sent (compared on the fields Scout sets; Grafana
adds its own), so a second push sends no write. The datasource password is
sent when the datasource is created, or with ``rotate_password``; it is
never logged or printed.

A failure stops the push with :class:`PushError`, whose message lists what
was already written, so nothing is left half-pushed unreported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

from dataflows.config import AlertSettings
from dataflows.redact import redact_url
from dataflows.warehouse import is_loopback_host
from grafana.alerts import api_rules
from grafana.dashboards import build_all
from grafana.datasource import DATASOURCE_UID, FOLDER_TITLE, FOLDER_UID, datasource_json
from grafana.provisioning import ClickHouseEndpoint


class PushError(RuntimeError):
    """The push could not finish; the message says why and what was already written."""


@dataclass
class PushReport:
    """What one push did to each object (``kind:uid``)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def written(self) -> list[str]:
        return self.created + self.updated

    def summary(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"


def same(ours: object, theirs: object) -> bool:
    """Whether everything Scout sets is already so on the server (Grafana's extra fields are ignored).

    >>> same({"a": 1, "b": [{"c": 2}]}, {"a": 1, "b": [{"c": 2, "id": 9}], "version": 3})
    True
    >>> same({"a": 1}, {"a": 2})
    False
    """
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(k in theirs and same(v, theirs[k]) for k, v in ours.items())
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return False
        return all(same(a, b) for a, b in zip(ours, theirs, strict=True))
    return ours == theirs


def _missing(call: Any, *args: object) -> Any | None:
    """``call(*args)``, or None when Grafana answers 404."""
    try:
        return call(*args)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


class _Pusher:
    def __init__(self, api: GrafanaApi, report: PushReport, alerts: AlertSettings | None = None) -> None:
        self.api = api
        self.report = report
        self.alerts = alerts

    def folder(self) -> None:
        for folder in self.api.folder.get_all_folders():
            if folder.get("title") == FOLDER_TITLE and folder.get("uid") != FOLDER_UID:
                raise PushError(
                    f"a folder titled {FOLDER_TITLE!r} already exists with uid {folder.get('uid')!r}, "
                    f"not {FOLDER_UID!r}; rename or remove it, then push again"
                )
        name = f"folder:{FOLDER_UID}"
        existing = _missing(self.api.folder.get_folder, FOLDER_UID)
        if existing is None:
            self.api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
            self.report.created.append(name)
        elif existing.get("title") != FOLDER_TITLE:
            self.api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True)
            self.report.updated.append(name)
        else:
            self.report.unchanged.append(name)

    def datasource(self, endpoint: ClickHouseEndpoint, password: str | None, rotate_password: bool) -> None:
        name = f"datasource:{DATASOURCE_UID}"
        body = datasource_json(
            endpoint.host, endpoint.port, protocol=endpoint.protocol, secure=endpoint.secure, database=endpoint.database
        )
        existing = _missing(self.api.datasource.get_datasource_by_uid, DATASOURCE_UID)
        secret = {"secureJsonData": {"password": password}} if password else {}
        if existing is None:
            if not password:
                raise PushError("creating the datasource needs the read-only user's password (--password-file or env)")
            self.api.datasource.create_datasource(body | secret)
            self.report.created.append(name)
        elif not same(body, existing) or rotate_password:
            self.api.datasource.update_datasource_by_uid(DATASOURCE_UID, body | (secret if rotate_password else {}))
            self.report.updated.append(name)
        else:
            self.report.unchanged.append(name)

    def dashboards(self) -> None:
        for dashboard in build_all():
            uid = dashboard["uid"]
            name = f"dashboard:{uid}"
            existing = _missing(self.api.dashboard.get_dashboard, uid)
            if existing is not None and (
                same(dashboard, existing.get("dashboard")) and existing.get("meta", {}).get("folderUid") == FOLDER_UID
            ):
                self.report.unchanged.append(name)
                continue
            self.api.dashboard.update_dashboard(
                {"dashboard": dashboard | {"id": None}, "folderUid": FOLDER_UID, "overwrite": True,
                 "message": "scout grafana push"}
            )  # fmt: skip
            (self.report.created if existing is None else self.report.updated).append(name)

    def alert_rules(self) -> None:
        for rule in api_rules(self.alerts):
            name = f"alert-rule:{rule['uid']}"
            existing = _missing(self.api.alertingprovisioning.get_alertrule, rule["uid"])
            if existing is None:
                self.api.alertingprovisioning.create_alertrule(rule)
                self.report.created.append(name)
            elif not same(rule, existing):
                self.api.alertingprovisioning.update_alertrule(rule["uid"], rule)
                self.report.updated.append(name)
            else:
                self.report.unchanged.append(name)


def push(
    url: str,
    token: str,
    endpoint: ClickHouseEndpoint,
    password: str | None,
    *,
    rotate_password: bool = False,
    timeout_s: float = 10.0,
    allow_plaintext_token: bool = False,
    alerts: AlertSettings | None = None,
) -> PushReport:
    """Push everything to the Grafana at ``url`` with a service-account ``token``.

    The token is never sent in clear text: ``url`` must be ``https://`` or name a loopback host,
    unless ``allow_plaintext_token`` (the same rule as the ClickHouse password's). Messages show
    ``url`` without its user-info or password-like parameters."""
    shown = redact_url(url)
    _check_transport(url, shown, allow_plaintext_token)
    report = PushReport()
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    pusher = _Pusher(api, report, alerts)
    step = "connect"
    try:
        for name, run in (
            ("folder", pusher.folder),
            ("datasource", lambda: pusher.datasource(endpoint, password, rotate_password)),
            ("dashboards", pusher.dashboards),
            ("alert rules", pusher.alert_rules),
        ):
            step = name
            run()
    except PushError as exc:
        raise PushError(f"{exc}{_written(report)}") from exc
    except GrafanaUnauthorizedError as exc:
        raise PushError(f"Grafana at {shown} refused the token (HTTP 401){_written(report)}") from exc
    except GrafanaException as exc:
        message = str(getattr(exc, "message", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PushError(
            f"Grafana at {shown} failed at {step}: HTTP {exc.status_code}: {message}{_written(report)}"
        ) from exc
    except niquests.exceptions.RequestException as exc:
        raise PushError(f"cannot reach Grafana at {shown} ({type(exc).__name__}){_written(report)}") from exc
    return report


def _check_transport(url: str, shown: str, allow_plaintext_token: bool) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise PushError(f"{shown} is not a URL: {exc}; nothing was written") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise PushError(f"{shown} is not an http(s) URL of a Grafana; nothing was written")
    if parts.scheme == "https" or allow_plaintext_token or is_loopback_host(host):
        return
    raise PushError(
        f"refusing to send the Grafana token in clear text to {host}: use an https:// URL "
        "(or --allow-plaintext-token if the network is trusted); nothing was written"
    )


def _written(report: PushReport) -> str:
    return f"; already written: {', '.join(report.written)}" if report.written else "; nothing was written"
