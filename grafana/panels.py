"""Panel helpers: every Scout panel has a description, a unit, a ClickHouse query and the datasource.

Each helper returns a ``grafana-foundation-sdk`` builder; the dashboards
place them. Gold tables hold hourly windows, so panels over gold set a
minimum interval of one hour (``GOLD_INTERVAL``): ``$__timeInterval`` never
buckets finer than the data.
"""

from __future__ import annotations

from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import barchart, bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    VisibilityMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    MappingType,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
)

from grafana.datasource import ref
from grafana.query import ClickHouseQueryBuilder

GOLD_INTERVAL = "1h"
#: Colours by meaning, used the same way on every dashboard.
GOOD, WARN, BAD, NEUTRAL = "green", "orange", "red", "blue"

Steps = list[tuple[float | None, str]]


def thresholds(steps: Steps, percentage: bool = False) -> ThresholdsConfig:
    """Threshold steps as ``[(None, base colour), (value, colour), ...]``."""
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.PERCENTAGE if percentage else ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def higher_is_better(warn_below: float, bad_below: float) -> Steps:
    return [(None, BAD), (bad_below, WARN), (warn_below, GOOD)]


def lower_is_better(warn_above: float, bad_above: float) -> Steps:
    return [(None, GOOD), (warn_above, WARN), (bad_above, BAD)]


def _legend() -> VizLegendOptions:
    return VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM).show_legend(True)


def _query(sql: str, time_series: bool) -> ClickHouseQueryBuilder:
    q = ClickHouseQueryBuilder().sql(sql.strip())
    return q.time_series() if time_series else q.table()


class _PanelBuilder(Protocol):
    """What every SDK panel builder has (each panel type is its own class)."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: DataSourceRef) -> Self: ...
    def with_target(self, target: cogbuilder.Builder[cogvariants.Dataquery]) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...


P = TypeVar("P", bound=_PanelBuilder)


def _panel(
    builder: P, title: str, description: str, sql: str, unit: str, width: int, height: int, time_series: bool
) -> P:
    """The part every Scout panel shares: title, description, the datasource, one query, unit, size."""
    return (
        builder.title(title)
        .description(description)
        .datasource(ref())
        .with_target(_query(sql, time_series))
        .unit(unit)
        .span(width)
        .height(height)
    )


def time_series(
    title: str,
    description: str,
    sql: str,
    unit: str,
    steps: Steps | None = None,
    interval: str | None = None,
    width: int = 12,
) -> timeseries.Panel:
    """A time series: the query's first column is ``time``; a string column splits series."""
    p = _panel(timeseries.Panel(), title, description, sql, unit, width, 8, time_series=True)
    p = p.legend(_legend()).line_width(2).fill_opacity(10)
    if steps:
        p = p.thresholds(thresholds(steps))
    if interval:
        p = p.interval(interval)
    return p


def big_number(
    title: str, description: str, sql: str, unit: str, steps: Steps | None = None, width: int = 6
) -> stat.Panel:
    """One number (the query returns one row)."""
    return (
        _panel(stat.Panel(), title, description, sql, unit, width, 4, time_series=False)
        .thresholds(thresholds(steps or [(None, NEUTRAL)]))
        .color_mode(BigValueColorMode.VALUE)
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def rows(
    title: str,
    description: str,
    sql: str,
    unit: str = "none",
    steps: Steps | None = None,
    width: int = 24,
    height: int = 9,
) -> table.Panel:
    """A table of the query's rows."""
    p = _panel(table.Panel(), title, description, sql, unit, width, height, time_series=False)
    p = p.frame_index(0).show_header(True)
    if steps:
        p = p.thresholds(thresholds(steps))
    return p


def bars(title: str, description: str, sql: str, x_field: str, unit: str = "short", width: int = 12) -> barchart.Panel:
    """Grouped bars: first column the category (``x_field``), the others one bar each."""
    return (
        _panel(barchart.Panel(), title, description, sql, unit, width, 9, time_series=False)
        .x_field(x_field)
        .orientation(VizOrientation.AUTO)
        .legend(_legend())
    )


def gauges(title: str, description: str, sql: str, unit: str, steps: Steps, width: int = 12) -> bargauge.Panel:
    """One bar per row (label column, value column), coloured by thresholds."""
    return (
        _panel(bargauge.Panel(), title, description, sql, unit, width, 9, time_series=False)
        .thresholds(thresholds(steps))
        .orientation(VizOrientation.HORIZONTAL)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(True))
    )


def states(
    title: str, description: str, sql: str, states_by_code: dict[int, tuple[str, str]], width: int = 24
) -> statetimeline.Panel:
    """A state timeline: numeric codes in the query, shown as named, coloured states."""
    mapping = ValueMap(
        options={
            str(code): ValueMappingResult(text=text, color=color) for code, (text, color) in states_by_code.items()
        }
    )
    mapping.type_val = MappingType.VALUE_TO_TEXT
    return (
        _panel(statetimeline.Panel(), title, description, sql, "none", width, 9, time_series=True)
        .mappings([mapping])
        .show_value(VisibilityMode.NEVER)
        .merge_values(True)
        .legend(_legend())
        .interval(GOLD_INTERVAL)
    )
