"""Brand reading (optional, ``vision.brands.enabled``): PP-OCR text → known brands → ``brand:<id>`` detections.

OCR is PP-OCRv4 ONNX from ``rapidocr-onnxruntime`` (Apache-2.0), run with
onnxruntime on the same frames as the face detector, every
``vision.brands.every_n_frames``-th analysed frame (its cost per frame is in
bench/README.md, "Edge runtime"). Matching is plain Python: OCR text and printed brand forms are
normalised (upper case, accents and punctuation removed); a form matches a
run of the same number of words when their similarity is at least
``min_similarity`` (difflib), which tolerates a misread letter.

>>> catalog = BrandCatalog({"nescafe": ["NESCAFE"], "san-miguel": ["SAN MIGUEL"], "c2": ["C2"]})
>>> catalog.match("Nescafé Classic")
[('nescafe', 1.0)]
>>> catalog.match("SAN MIGUEI PALE PILSEN")
[('san-miguel', 0.9)]
>>> catalog.match("C2 green tea"), catalog.match("C22"), catalog.match("")
([('c2', 1.0)], [], [])
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import ModelLoadError
from edge_runtime.vision.detector import Frame

DEFAULT_CATALOG = Path(__file__).with_name("brand_catalog.toml")
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")


def normalise(text: str) -> list[str]:
    """Upper-case words without accents or punctuation."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
    return [w for w in _NON_ALNUM.split(plain) if w]


def load_catalog(path: Path | None = None) -> dict[str, list[str]]:
    with (path or DEFAULT_CATALOG).open("rb") as fh:
        doc = tomllib.load(fh)
    brands = doc.get("brands")
    if not isinstance(brands, dict) or not all(isinstance(v, list) for v in brands.values()):
        raise ValueError(f"{path or DEFAULT_CATALOG}: expected a [brands] table of id = [printed forms]")
    return {str(k): [str(f) for f in v] for k, v in brands.items()}


class BrandCatalog:
    def __init__(self, brands: Mapping[str, Sequence[str]], min_similarity: float = 0.85) -> None:
        self.min_similarity = min_similarity
        self._forms = [(brand, normalise(form)) for brand, forms in brands.items() for form in forms]
        self._forms = [(b, f) for b, f in self._forms if f]

    def match(self, text: str) -> list[tuple[str, float]]:
        """Brands named in ``text`` with their best similarity, best first."""
        words = normalise(text)
        best: dict[str, float] = {}
        for brand, form in self._forms:
            n = len(form)
            target = " ".join(form)
            for i in range(len(words) - n + 1):
                candidate = " ".join(words[i : i + n])
                # short forms (C2, TIDE) must match exactly; a misread letter is tolerated in longer ones
                score = 1.0 if candidate == target else 0.0
                if not score and len(target) >= 5:
                    score = difflib.SequenceMatcher(None, candidate, target).ratio()
                if score >= self.min_similarity and score > best.get(brand, 0.0):
                    best[brand] = round(score, 3)
        return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True, slots=True)
class BrandSighting:
    brand: str
    confidence: float
    #: Normalised [x, y, w, h] of the text box in the frame.
    bbox: tuple[float, float, float, float]


class BrandReader:
    """PP-OCR (rapidocr-onnxruntime) + :class:`BrandCatalog`; ``threads`` intra-op threads per model."""

    def __init__(self, catalog: BrandCatalog, *, threads: int = 1, min_text_score: float = 0.5) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise ModelLoadError(
                "brand reading needs rapidocr-onnxruntime (requirements/model-packages.txt) and the [ocr] extra"
            ) from exc
        try:
            self._ocr = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, text_score=min_text_score)
        except Exception as exc:  # rapidocr raises its own errors for missing/corrupt models
            raise ModelLoadError(f"cannot load the OCR models: {exc}") from exc
        self.catalog = catalog

    def read(self, frame: Frame) -> list[BrandSighting]:
        height, width = frame.shape[:2]
        result: Any
        result, _ = self._ocr(frame)
        sightings: dict[str, BrandSighting] = {}
        for quad, text, score in result or []:
            points = np.asarray(quad, dtype=np.float64)
            x0, y0 = max(0.0, points[:, 0].min() / width), max(0.0, points[:, 1].min() / height)
            x1, y1 = min(1.0, points[:, 0].max() / width), min(1.0, points[:, 1].max() / height)
            for brand, similarity in self.catalog.match(str(text)):
                confidence = round(float(score) * similarity, 4)
                if brand not in sightings or confidence > sightings[brand].confidence:
                    box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
                    sightings[brand] = BrandSighting(brand, confidence, box)
        return sorted(sightings.values(), key=lambda s: -s.confidence)
