"""Device health for ``scout.heartbeat/1`` (SPEC §2): uptime, CPU, memory, temperature, disk, outbox, models."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temperature_c() -> float | None:
    """SoC temperature (Raspberry Pi: thermal_zone0), ``None`` where no sensor exists."""
    try:
        return int(THERMAL_ZONE.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        pass
    sensors = getattr(psutil, "sensors_temperatures", None)
    readings = sensors() if sensors else {}
    for entries in readings.values():
        for entry in entries:
            if entry.current is not None:
                return float(entry.current)
    return None


@dataclass(frozen=True, slots=True)
class Health:
    uptime_s: float
    cpu_pct: float
    mem_pct: float
    cpu_temp_c: float | None
    disk_free_mb: float


class HealthProbe:
    """Reads the machine's health; CPU % is measured between two calls (first call: since boot)."""

    def __init__(self, disk_path: Path) -> None:
        self.disk_path = disk_path
        self.started = time.monotonic()
        psutil.cpu_percent(interval=None)

    def read(self) -> Health:
        path = self.disk_path if self.disk_path.exists() else self.disk_path.parent
        return Health(
            uptime_s=round(time.monotonic() - self.started, 3),
            cpu_pct=min(100.0, max(0.0, float(psutil.cpu_percent(interval=None)))),
            mem_pct=min(100.0, max(0.0, float(psutil.virtual_memory().percent))),
            cpu_temp_c=cpu_temperature_c(),
            disk_free_mb=round(shutil.disk_usage(path).free / 2**20, 1),
        )
