"""Reading a process's Prometheus endpoint (tests and benchmarks): every sample, parsed by prometheus_client.

>>> samples = parse('scout_rows_written_total{table="a"} 3.0\\nscout_rows_written_total{table="b"} 4.0\\n')
>>> samples['scout_rows_written_total{table="a"}'], total(samples, "scout_rows_written_total")
(3.0, 7.0)
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[str, float]:
    """``name{label="value",…}`` → value, for every sample of an exposition."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def scrape(port: int, timeout_s: float = 10) -> dict[str, float]:
    """Every sample served on ``127.0.0.1:port/metrics`` (an ``OSError`` while the server is not up)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
        return parse(resp.read().decode())


def total(samples: dict[str, float], name: str) -> float:
    """The sum of a metric's samples over all its labels."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))
