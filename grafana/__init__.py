"""Grafana for Scout stream: dashboards as code, provisioning, alerts, push and an offline preview.

The path of the data ends here: the dashboards read the gold and silver
tables (and the quarantine/quality tables) through the
``grafana-clickhouse-datasource`` plugin as the read-only ``scout_grafana``
user. Everything is built in Python with ``grafana-foundation-sdk`` pinned to
one Grafana version (:data:`grafana.datasource.GRAFANA_VERSION`):

* :mod:`grafana.query` — the ClickHouse query type the SDK lacks.
* :mod:`grafana.panels` — panel helpers (units, thresholds, descriptions).
* :mod:`grafana.dashboards` — the four dashboards.
* :mod:`grafana.alerts` — Grafana-managed alert rules.
* :mod:`grafana.provisioning` — ``scout grafana build``: files for Grafana's provisioning.
* :mod:`grafana.push` — ``scout grafana push``: the same objects through Grafana's HTTP API.
* :mod:`grafana.macros` — the plugin's macros and dashboard variables, expanded offline.
* :mod:`grafana.panel_data` — a built dashboard's panel queries, run read-only for a time range.
* :mod:`grafana.checks` — schema and SQL checks the tests run.
* :mod:`grafana.preview` — ``scout grafana preview``: every panel as a static HTML page.
"""
