"""A readable summary of what the dataflow wrote (rich tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client
from rich.console import Console, Group
from rich.table import Table

from dataflows.tables import TABLES
from dataflows.warehouse import quote_identifier

_TEXT_COLUMNS = {"layer", "table", "rule", "stream", "store", "device", "brand", "last status", "last seen"}


def _table(title: str, headers: list[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold cyan")
    for h in headers:
        t.add_column(h, justify="left" if h in _TEXT_COLUMNS else "right")
    for r in rows:
        t.add_row(*[f"{v:.2f}" if isinstance(v, float) else str(v) for v in r])
    return t


def summary_tables(client: Client) -> Group:
    """Query the warehouse (with FINAL) and build the demo's summary."""
    counts = []
    for table, t in TABLES.items():
        n = client.command(f"SELECT count() FROM {quote_identifier(table)} FINAL")
        counts.append((t.layer, table, n))
    reasons = client.query(
        "SELECT arrayJoin(rules) AS rule, count() FROM quarantine_events FINAL GROUP BY rule ORDER BY 2 DESC"
    ).result_rows
    late = client.query("SELECT stream, count() FROM late_events FINAL GROUP BY stream ORDER BY 2 DESC").result_rows
    stores = client.query(
        """SELECT store_id, sum(interactions),
                  round(sum(avg_dwell_s * interactions) / nullIf(sum(interactions), 0), 1),
                  round(sum(greeted_interactions) / nullIf(sum(interactions), 0), 2),
                  round(sum(speech_interactions) / nullIf(sum(interactions), 0), 2), max(active_devices)
           FROM gold_store_interaction_metrics FINAL GROUP BY store_id ORDER BY store_id"""
    ).result_rows
    health = client.query(
        """SELECT device_id, any(store_id), sum(heartbeats_received), sum(heartbeats_expected),
                  round(max(cpu_temp_max), 1), argMax(status, window_start), max(last_seen)
           FROM gold_device_health_summary FINAL GROUP BY device_id ORDER BY device_id"""
    ).result_rows
    brands = client.query(
        """SELECT brand, sum(mentions), sum(sightings), sum(interactions) FROM gold_brand_performance FINAL
           GROUP BY brand ORDER BY sum(mentions) + sum(sightings) DESC LIMIT 8"""
    ).result_rows
    return Group(
        _table("Rows per layer (FINAL: as queries see them)", ["layer", "table", "rows"], counts),
        _table("Quarantine reasons", ["rule", "records"], reasons),
        _table("Late events", ["stream", "records"], late),
        _table(
            "Interactions per store",
            ["store", "interactions", "avg dwell s", "greeted rate", "speech rate", "max active devices"],
            stores,
        ),
        _table(
            "Device health",
            ["device", "store", "heartbeats", "expected", "max temp °C", "last status", "last seen"],
            health,
        ),
        _table("Top brands", ["brand", "mentions", "sightings", "interactions"], brands),
    )


def print_summary(client: Client, console: Console | None = None) -> None:
    (console or Console()).print(summary_tables(client))
