"""``scout grafana``: dashboards and provisioning as code, push to a Grafana, offline preview and checks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from dataflows.errors import Exit
from scout_cli.common import SinkOpt, client, configure_logging, errors, fail, handled, log, settings

app = typer.Typer(no_args_is_help=True, help="Grafana dashboards, provisioning, alerts and an offline preview.")

ChHost = Annotated[str, typer.Option(help="ClickHouse host as Grafana reaches it")]
ChPort = Annotated[int, typer.Option(help="ClickHouse port as Grafana reaches it")]
ChProtocol = Annotated[str, typer.Option(help="The plugin's protocol: http or native")]
ChSecure = Annotated[bool, typer.Option(help="TLS from Grafana to ClickHouse")]


@app.command("build")
def grafana_build(
    out: Annotated[Path, typer.Option(help="Directory for dashboards/ and provisioning/")],
    clickhouse_host: ChHost = "clickhouse",
    clickhouse_port: ChPort = 8123,
    clickhouse_protocol: ChProtocol = "http",
    clickhouse_secure: ChSecure = False,
) -> None:
    """Write the dashboards, the datasource and dashboard providers, the alert rules, contact points and
    notification policy for provisioning (thresholds and channels: the settings' [alerts])."""
    from grafana.provisioning import ClickHouseEndpoint, build

    endpoint = ClickHouseEndpoint(clickhouse_host, clickhouse_port, clickhouse_protocol, clickhouse_secure)
    for path in build(out, endpoint, settings().alerts):
        sys.stdout.write(f"{path}\n")


def _secret(env: str, file: Path | None, what: str) -> str | None:
    """A secret from a file (first line) or the environment; never echoed."""
    if file is not None:
        try:
            return file.read_text().strip() or None
        except OSError as exc:
            raise fail(Exit.USAGE, "error", f"cannot read the {what} file {file}: {exc.strerror}") from exc
    return os.environ.get(env) or None


@app.command("push")
def grafana_push(
    url: Annotated[str, typer.Option(help="Grafana's base URL, e.g. https://grafana.example.com")],
    token_file: Annotated[
        Path | None, typer.Option(help="File holding a service-account token (else $GRAFANA_TOKEN)")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help="File holding the read-only ClickHouse user's password (else $SCOUT_CH_GRAFANA_PASSWORD)"),
    ] = None,
    rotate_password: Annotated[bool, typer.Option(help="Send the password to an existing datasource")] = False,
    clickhouse_host: ChHost = "clickhouse",
    clickhouse_port: ChPort = 8123,
    clickhouse_protocol: ChProtocol = "http",
    clickhouse_secure: ChSecure = False,
    timeout_s: Annotated[float, typer.Option(help="Seconds per HTTP request")] = 10.0,
    allow_plaintext_token: Annotated[
        bool, typer.Option(help="Send the token over plain http to a host that is not loopback (trusted networks)")
    ] = False,
) -> None:
    """Create or update the folder, datasource, dashboards and alert rules in a Grafana (idempotent)."""
    from grafana.datasource import PASSWORD_ENV
    from grafana.provisioning import ClickHouseEndpoint
    from grafana.push import PushError, push

    configure_logging("INFO")
    token = _secret("GRAFANA_TOKEN", token_file, "token")
    if not token:
        raise fail(Exit.USAGE, "error", "no Grafana token: set GRAFANA_TOKEN or pass --token-file")
    password = _secret(PASSWORD_ENV, password_file, "password")
    endpoint = ClickHouseEndpoint(clickhouse_host, clickhouse_port, clickhouse_protocol, clickhouse_secure)
    try:
        report = push(url, token, endpoint, password, rotate_password=rotate_password, timeout_s=timeout_s,
                      allow_plaintext_token=allow_plaintext_token, alerts=settings().alerts)  # fmt: skip
    except PushError as exc:
        raise fail(Exit.GRAFANA, "grafana error", exc) from exc
    for kind, names in (("created", report.created), ("updated", report.updated)):
        for name in names:
            log.info(f"grafana {kind}", object=name)
    sys.stdout.write(f"grafana push: {report.summary()}\n")


@app.command("preview")
def grafana_preview(
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path(".scout/dashboards.html"),
    sink: SinkOpt = None,
) -> None:
    """Draw every dashboard panel from the warehouse into one static HTML page (no Grafana needed)."""
    from grafana.preview import render

    s = settings(sink=sink)
    with handled():
        report = render(client(s), out, s.sink)
    for failed in report.failed:
        errors.print(f"[red]panel failed:[/red] {failed}", markup=True, highlight=False)
    sys.stdout.write(f"{out.resolve()}: {len(report.drawn)} panels drawn, {len(report.failed)} failed\n")
    if report.failed:
        raise typer.Exit(int(Exit.DIFFERENT))


@app.command("check")
def grafana_check(
    sink: SinkOpt = None,
    dashboards_dir: Annotated[
        Path | None, typer.Option("--dashboards", help="Check these dashboard JSON files (default: build them)")
    ] = None,
) -> None:
    """Check dashboards and alerts offline (exit 1 on any problem).

    Generated Grafana schemas, one datasource, grants, and every query run on the warehouse.
    """
    from grafana.alerts import api_rules
    from grafana.checks import check_all
    from grafana.dashboards import build_all

    s = settings(sink=sink)
    if dashboards_dir is None:
        dashboards = build_all()
    else:
        files = sorted(dashboards_dir.glob("*.json"))
        if not files:
            raise fail(Exit.USAGE, "error", f"no dashboard JSON files in {dashboards_dir}")
        dashboards = [json.loads(f.read_text()) for f in files]
    with handled():
        problems = check_all(client(s), dashboards, api_rules())
    for problem in problems:
        sys.stdout.write(f"{problem}\n")
    panels = sum(len([p for p in d.get("panels", []) if p.get("targets")]) for d in dashboards)
    sys.stdout.write(f"{len(dashboards)} dashboards, {panels} panels: {len(problems)} problems\n")
    if problems:
        raise typer.Exit(int(Exit.DIFFERENT))
