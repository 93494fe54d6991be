"""The store's heartbeat hour: the dataflow's :class:`StoreClock` and the batch oracle's SQL agree.

``clickhouse/verify/gold_device_health_summary.sql`` computes the store's heartbeat hour with a fold over
the devices' heartbeat hours in time order; the dataflow votes after each batch. Fed the same heartbeats
in time order (in batches of any size), both must end at the same hour, for any mix of devices, silences, and
clocks days ahead or behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflows.gold.store_clock import StoreClock
from dataflows.timegrid import HOUR_MS
from dataflows.warehouse import connect, sql_dir

TOLERANCE, RETIRE = 24 * HOUR_MS, 12 * HOUR_MS


def _oracle_expression() -> str:
    """The fold that computes ``max_hour`` in the verify query (one definition: read from the file)."""
    sql = (sql_dir("verify") / "gold_device_health_summary.sql").read_text("utf-8")
    start = sql.index("SELECT store_id, arrayFold(") + len("SELECT store_id, ")
    expression = sql[start : sql.index(" AS max_hour", start)]
    return expression.replace("{clock_skew_ms:Int64}", str(TOLERANCE)).replace("{device_retire_ms:Int64}", str(RETIRE))


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    client = connect(f"chdb://{tmp_path_factory.mktemp('store_clock') / 'ch'}", create=True)
    yield client
    client.close()


def _oracle(chdb: Client, beats: list[tuple[str, int]]) -> int:
    rows = ",".join(f"('{device}', {ts})" for device, ts in beats)
    query = f"""SELECT {_oracle_expression()} FROM (
        SELECT c1 AS device_id, intDiv(toInt64(c2), {HOUR_MS}) * {HOUR_MS} AS hour, min(toInt64(c2)) AS first_t
        FROM values({rows}) GROUP BY device_id, hour)"""
    [(hour,)] = chdb.query(query).result_rows
    return int(hour)


def _dataflow(beats: list[tuple[str, int]], batch: int = 1) -> int | None:
    """The heartbeats in time order, ``batch`` of them at a time (a batch is swept in time order too)."""
    clock = StoreClock("STORE-0001", TOLERANCE, RETIRE)
    ordered = sorted(beats, key=lambda b: (b[1], b[0]))
    for start in range(0, len(ordered), batch):
        for device, ts in ordered[start : start + batch]:
            clock.saw(device, ts)
            clock.beat(device, ts - ts % HOUR_MS, ts)
        clock.vote(now=0)
    return clock.beat_hour


_beat = st.tuples(
    st.sampled_from(["SCOUTPI-0001", "SCOUTPI-0002", "SCOUTPI-0003", "SCOUTPI-0004", "SCOUTPI-0005"]),
    st.integers(0, 96).map(lambda h: 1_000 * HOUR_MS + h * HOUR_MS // 2),  # half hours over two days
    st.sampled_from([0, 0, 0, 0, 30 * HOUR_MS, 72 * HOUR_MS, -72 * HOUR_MS]),  # a clock off by days, sometimes
)


@settings(max_examples=80)
@given(st.lists(_beat, min_size=1, max_size=40), st.integers(1, 40))
def test_the_oracle_s_store_hour_is_the_dataflow_s(
    chdb: Client, generated: list[tuple[str, int, int]], batch: int
) -> None:
    beats = [(device, ts + skew) for device, ts, skew in generated]
    assert _oracle(chdb, beats) == _dataflow(beats, batch)


def test_dead_devices_retire_and_the_live_one_keeps_the_store_hour(chdb: Client) -> None:
    """Two of three devices stop at hour 1, the third reports every hour to hour 40: both agree on 40."""
    beats = [(d, h * HOUR_MS) for h in range(2) for d in ("SCOUTPI-0001", "SCOUTPI-0002")]
    beats += [("SCOUTPI-0003", h * HOUR_MS) for h in range(41)]
    assert _oracle(chdb, beats) == _dataflow(beats) == 40 * HOUR_MS
