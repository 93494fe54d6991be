"""Zones of a device's view: named polygons in normalised coordinates (from the device config).

A detection belongs to the first zone that contains its box centre.

>>> zones = Zones([("counter", [(0, 0), (0.5, 0), (0.5, 1), (0, 1)]), ("door", [(0.5, 0), (1, 0), (1, 1), (0.5, 1)])])
>>> zones.locate(0.25, 0.5), zones.locate(0.75, 0.1), Zones([]).locate(0.5, 0.5)
('counter', 'door', None)
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt


class Zones:
    def __init__(self, zones: Sequence[tuple[str, Sequence[tuple[float, float]]]]) -> None:
        self._zones: list[tuple[str, npt.NDArray[np.float32]]] = [
            (name, np.asarray(points, dtype=np.float32).reshape(-1, 1, 2)) for name, points in zones
        ]

    def locate(self, x: float, y: float) -> str | None:
        for name, polygon in self._zones:
            if cv2.pointPolygonTest(polygon, (float(x), float(y)), False) >= 0:
                return name
        return None
