"""Lexicon tagging of utterances: greeting, question, brands, sentiment.

Pure functions over text, so the dataflow and the batch checks share them.

>>> lex = load_lexicon()
>>> a = lex.annotate("Magandang umaga po! Magkano ang Coke? Salamat, ang mura!")
>>> a.greeting, a.question, a.brands, a.sentiment
(True, True, ('coca-cola',), 1.0)
>>> lex.annotate("hindi masarap, ang mahal").sentiment
-1.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

_TOKEN = re.compile(r"[a-z0-9ñ'-]+")


@dataclass(frozen=True, slots=True)
class Annotation:
    greeting: bool
    question: bool
    #: Canonical brand names in order of mention, repeats kept.
    brands: tuple[str, ...]
    #: Lexicon sentiment in -1..1; 0 when no sentiment word was found.
    sentiment: float
    n_words: int


def _phrase_index(phrases: dict[str, str]) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """First token -> [(all tokens, value)], longest phrase first."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for phrase, value in phrases.items():
        toks = tuple(_TOKEN.findall(phrase.lower()))
        if toks:
            index.setdefault(toks[0], []).append((toks, value))
    for options in index.values():
        options.sort(key=lambda o: -len(o[0]))
    return index


def _match(tokens: list[str], index: dict[str, list[tuple[tuple[str, ...], str]]]) -> list[tuple[int, str]]:
    """Non-overlapping phrase matches as ``(position, value)``."""
    found: list[tuple[int, str]] = []
    i = 0
    while i < len(tokens):
        for toks, value in index.get(tokens[i], ()):
            if tuple(tokens[i : i + len(toks)]) == toks:
                found.append((i, value))
                i += len(toks)
                break
        else:
            i += 1
    return found


class Lexicon:
    """Compiled lexicons; :meth:`annotate` is the one entry point."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._greetings = _phrase_index({p: p for p in doc.get("greetings", [])})
        self._questions = _phrase_index({p: p for p in doc.get("questions", [])})
        self._sentiment = _phrase_index({w: str(v) for w, v in doc.get("sentiment", {}).items()})
        self._negations = frozenset(doc.get("negations", []))
        self._brands = _phrase_index(
            {alias: brand for brand, aliases in doc.get("brands", {}).items() for alias in aliases}
        )
        self.brand_names = frozenset(doc.get("brands", {}))

    def annotate(self, text: str) -> Annotation:
        lowered = text.lower()
        tokens = _TOKEN.findall(lowered)
        pos = neg = 0.0
        for i, weight in _match(tokens, self._sentiment):
            w = float(weight)
            if i > 0 and tokens[i - 1] in self._negations:
                w = -w
            if w > 0:
                pos += w
            else:
                neg -= w
        sentiment = (pos - neg) / (pos + neg) if pos + neg else 0.0
        return Annotation(
            greeting=bool(_match(tokens, self._greetings)),
            question="?" in lowered or bool(_match(tokens, self._questions)),
            brands=tuple(b for _, b in _match(tokens, self._brands)),
            sentiment=sentiment,
            n_words=len(tokens),
        )


def load_lexicon(path: Path | None = None) -> Lexicon:
    """Load lexicons from YAML; ``None`` loads the ones shipped with the package."""
    if path is None:
        text = resources.files("dataflows.resources").joinpath("lexicon.yaml").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return Lexicon(yaml.safe_load(text))
