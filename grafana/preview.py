"""``scout grafana preview``: every dashboard panel drawn into one static HTML page, without Grafana.

The page starts from the same dashboard JSON Grafana would get: each
panel's title, description, type, unit, thresholds, value mappings and SQL
(expanded by :mod:`grafana.macros` over the data's own time range, store
variable on "All"). Charts are drawn by Plotly (pinned; its JavaScript is
inlined, so the file opens offline). A panel whose query fails or returns
nothing shows that as an error box (class ``panel-error``), never a blank.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from grafana.checks import frame_problems
from grafana.dashboards import build_all
from grafana.panel_data import Frame, data_time_range, panel_sql, run_sql, variables

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

#: Grafana's palette for the named colours the panels use.
COLOURS = {"green": "#73BF69", "orange": "#FF9830", "red": "#F2495C", "blue": "#5794F2", "text": "#CCCCDC"}
#: Grafana unit → Plotly axis/number formatting.
UNITS: dict[str, dict[str, str]] = {
    "percentunit": {"tickformat": ".0%", "valueformat": ".1%"},
    "s": {"ticksuffix": " s", "valueformat": ".1f", "suffix": " s"},
    "celsius": {"ticksuffix": " °C", "valueformat": ".1f", "suffix": " °C"},
    "decmbytes": {"ticksuffix": " MB", "valueformat": ",.0f", "suffix": " MB"},
}
LAYOUT: dict[str, Any] = {
    "template": "plotly_dark",
    "paper_bgcolor": "#181b1f",
    "plot_bgcolor": "#181b1f",
    "margin": {"l": 50, "r": 20, "t": 10, "b": 40},
    "legend": {"orientation": "h", "y": -0.2},
    "font": {"size": 11},
}


@dataclass
class PreviewReport:
    """What the page holds: panels drawn, and panels that show an error instead."""

    path: Path
    drawn: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _colour(name: str) -> str:
    return COLOURS.get(name, name)


def threshold_colour(panel: dict[str, Any], value: float | None) -> str:
    """The colour Grafana's thresholds give a value (the base colour for None)."""
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    colour = "blue"
    for step in steps:
        if step.get("value") is None or (value is not None and value >= step["value"]):
            colour = step["color"]
    return _colour(colour)


def _unit(panel: dict[str, Any]) -> dict[str, str]:
    return UNITS.get(panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""), {})


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def _time_series(panel: dict[str, Any], frame: Frame) -> go.Figure:
    values = [i for i in frame.numeric() if i != 0]
    labels = frame.labels(frozenset({0}))
    series: dict[str, tuple[list[Any], list[Any]]] = {}
    for row in frame.rows:
        for i in values:
            key = " ".join(str(row[j]) for j in labels)
            name = f"{key} {frame.columns[i]}".strip() if len(values) > 1 or not key else key
            xs, ys = series.setdefault(name, ([], []))
            xs.append(row[0])
            ys.append(row[i])
    fig = go.Figure([go.Scatter(x=xs, y=ys, name=name, mode="lines+markers") for name, (xs, ys) in series.items()])
    fig.update_yaxes(**{k: v for k, v in _unit(panel).items() if k in {"tickformat", "ticksuffix"}})
    return fig


def _state_timeline(panel: dict[str, Any], frame: Frame) -> go.Figure:
    mappings = panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", [])
    states = mappings[0]["options"] if mappings else {}
    value = frame.numeric()[-1]
    label = frame.labels(frozenset({0}))[0]
    traces = []
    for code, state in sorted(states.items()):
        rows = [r for r in frame.rows if str(r[value]) == code]
        traces.append(
            go.Scatter(
                x=[r[0] for r in rows],
                y=[r[label] for r in rows],
                mode="markers",
                name=state.get("text", code),
                marker={"symbol": "square", "size": 18, "color": _colour(state.get("color", "blue"))},
            )
        )
    return go.Figure(traces)


def _stat(panel: dict[str, Any], frame: Frame) -> go.Figure:
    i = frame.numeric()[0]
    value = frame.rows[0][i]
    unit = _unit(panel)
    number: dict[str, Any] = {"font": {"color": threshold_colour(panel, value), "size": 40}}
    number |= {k: unit[k] for k in ("valueformat", "suffix") if k in unit}
    return go.Figure(go.Indicator(mode="number", value=value, number=number))


def _table(frame: Frame) -> go.Figure:
    columns = [[_cell(r[i]) for r in frame.rows] for i in range(len(frame.columns))]
    return go.Figure(
        go.Table(
            header={"values": frame.columns, "fill_color": "#22252b", "align": "left"},
            cells={"values": columns, "fill_color": "#181b1f", "align": "left", "height": 22},
        )
    )


def _bars(panel: dict[str, Any], frame: Frame) -> go.Figure:
    x = frame.columns.index(panel["options"]["xField"])
    fig = go.Figure(
        [go.Bar(x=[r[x] for r in frame.rows], y=[r[i] for r in frame.rows], name=frame.columns[i])
         for i in frame.numeric() if i != x]
    )  # fmt: skip
    fig.update_layout(barmode="group")
    return fig


def _bar_gauge(panel: dict[str, Any], frame: Frame) -> go.Figure:
    value = frame.numeric()[-1]
    label = frame.labels(frozenset({value}))[0]
    xs = [r[value] for r in frame.rows]
    return go.Figure(
        go.Bar(
            x=xs,
            y=[r[label] for r in frame.rows],
            orientation="h",
            marker={"color": [threshold_colour(panel, v) for v in xs]},
            text=[_cell(v) for v in xs],
        )
    )


def figure(panel: dict[str, Any], frame: Frame) -> go.Figure:
    """The Plotly figure for a panel's result (raises ValueError for a result the panel cannot draw)."""
    problems = frame_problems(panel, frame)
    if problems:
        raise ValueError("; ".join(problems))
    kind = panel["type"]
    if kind == "timeseries":
        fig = _time_series(panel, frame)
    elif kind == "state-timeline":
        fig = _state_timeline(panel, frame)
    elif kind == "stat":
        fig = _stat(panel, frame)
    elif kind == "table":
        fig = _table(frame)
    elif kind == "barchart":
        fig = _bars(panel, frame)
    elif kind == "bargauge":
        fig = _bar_gauge(panel, frame)
    else:
        raise ValueError(f"the preview cannot draw a {kind!r} panel")
    fig.update_layout(LAYOUT, height=int(panel.get("gridPos", {}).get("h", 8)) * 34)
    return fig


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Scout stream dashboards (preview)</title>
<style>
body {{ background:#111217; color:#ccccdc; font-family:Inter,Helvetica,Arial,sans-serif; margin:16px; }}
h1 {{ font-size:20px; }} h2 {{ font-size:17px; margin-top:28px; border-bottom:1px solid #333; }}
h3.row {{ grid-column: span 24; font-size:14px; color:#8e8e9e; margin:8px 0 0; }}
.grid {{ display:grid; grid-template-columns:repeat(24, 1fr); gap:8px; }}
.panel {{ background:#181b1f; border:1px solid #2a2d33; border-radius:3px; padding:6px; min-width:0; }}
.panel h4 {{ margin:0; font-size:13px; }} .panel p {{ margin:2px 0 4px; font-size:11px; color:#8e8e9e; }}
.panel-error {{ color:#F2495C; font-size:12px; padding:8px; }}
.meta {{ font-size:12px; color:#8e8e9e; }}
</style>
<script>{plotly}</script></head>
<body><h1>Scout stream dashboards — offline preview</h1>
<p class="meta">Rendered by <code>scout grafana preview</code> from the same panel definitions and SQL Grafana
uses, over the data's own time range, store variable = All. Sink: {sink}.</p>
{sections}
<script>
const figures = {figures};
for (const [id, fig] of Object.entries(figures)) {{
  const el = document.getElementById(id);
  Plotly.newPlot(el, fig.data, fig.layout, {{displayModeBar: false, responsive: true}})
    .then(gd => {{ gd.closest('.panel').dataset.drawn = String(gd.data.length); }})
    .catch(err => {{ el.innerHTML = '<div class="panel-error">' + err + '</div>'; }});
}}
</script></body></html>
"""


def render(client: Client, out: Path, sink_label: str) -> PreviewReport:
    """Write the preview page to ``out``."""
    report = PreviewReport(out)
    sections: list[str] = []
    figures: dict[str, Any] = {}
    for dashboard in build_all():
        time_range = data_time_range(client, dashboard)
        values = variables(client, dashboard)
        parts = [
            f"<h2>{html.escape(dashboard['title'])}</h2>",
            f'<p class="meta">{time_range.start:%Y-%m-%d %H:%M} – {time_range.end:%Y-%m-%d %H:%M} UTC. '
            f"{html.escape(dashboard.get('description', ''))}</p>",
            '<div class="grid">',
        ]
        for panel in dashboard["panels"]:
            if not panel.get("targets"):  # a row: layout only
                parts.append(f'<h3 class="row">{html.escape(panel.get("title", ""))}</h3>')
                continue
            key = f"{dashboard['uid']}-{panel['id']}"
            where = f"{dashboard['uid']} / {panel['title']}"
            width = int(panel.get("gridPos", {}).get("w", 12))
            body = f'<div id="{key}"></div>'
            try:
                fig = figure(panel, run_sql(client, panel_sql(panel, time_range, values)))
                figures[key] = json.loads(fig.to_json())
                report.drawn.append(where)
            except Exception as exc:
                message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                body = f'<div class="panel-error">{html.escape(message)}</div>'
                report.failed.append(f"{where}: {message}")
            parts.append(
                f'<section class="panel" style="grid-column: span {width}" data-panel="{key}" '
                f'data-type="{panel["type"]}"><h4>{html.escape(panel["title"])}</h4>'
                f"<p>{html.escape(panel.get('description', ''))}</p>{body}</section>"
            )
        parts.append("</div>")
        sections.append("\n".join(parts))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        PAGE.format(
            plotly=get_plotlyjs(),
            sink=html.escape(sink_label),
            sections="\n".join(sections),
            figures=json.dumps(figures).replace("</", "<\\/"),
        )
    )
    return report
