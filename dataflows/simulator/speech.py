"""What customers and store keepers say: English, Filipino and Taglish lines.

>>> import random
>>> line = utterance(random.Random(1), "greeting", "coke")
>>> line.lang in {"en", "fil", "tl"} and bool(line.text)
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: canonical brand (visual label ``brand:<name>``) -> how people say it
SPOKEN_BRANDS: dict[str, list[str]] = {
    "coca-cola": ["Coke", "Coca Cola"],
    "pepsi": ["Pepsi"],
    "lucky-me": ["Lucky Me", "pancit canton"],
    "nescafe": ["Nescafe"],
    "kopiko": ["Kopiko"],
    "milo": ["Milo"],
    "bear-brand": ["Bear Brand"],
    "c2": ["C2"],
    "piattos": ["Piattos"],
    "safeguard": ["Safeguard"],
    "surf": ["Surf"],
    "red-horse": ["Red Horse"],
    "san-miguel": ["San Miguel"],
}

_LINES: dict[str, list[tuple[str, str]]] = {
    "greeting": [
        ("en", "Hi, good morning!"),
        ("en", "Hello there"),
        ("fil", "Magandang umaga po"),
        ("fil", "Magandang hapon po"),
        ("tl", "Kumusta po kayo, ate?"),
        ("fil", "Tao po"),
    ],
    "question": [
        ("tl", "Magkano po ang {brand}?"),
        ("fil", "Meron ba kayong {brand}?"),
        ("en", "How much is the {brand}?"),
        ("en", "Do you have {brand}?"),
        ("tl", "Saan po yung {brand}?"),
    ],
    "order": [
        ("fil", "Isa pong {brand}"),
        ("tl", "Pabili po ng {brand}, yung maliit"),
        ("en", "I'll take two {brand} please"),
        ("tl", "Dalawang {brand} po"),
    ],
    "positive": [
        ("tl", "Salamat po, ang sarap nito"),
        ("en", "Thank you, this is great"),
        ("tl", "Mura dito, sulit talaga"),
        ("fil", "Ang ganda ng tindahan ninyo"),
    ],
    "negative": [
        ("tl", "Ang mahal naman ng {brand}"),
        ("fil", "Wala na po bang {brand}?"),
        ("tl", "Ubos na pala, sayang"),
        ("en", "Sold out again, that's bad"),
    ],
    "neutral": [
        ("fil", "Sige po"),
        ("en", "Okay, that one"),
        ("fil", "Ito na lang po"),
        ("tl", "Yung maliit po"),
    ],
}


@dataclass(frozen=True)
class Line:
    lang: str
    text: str


def utterance(rng: random.Random, intent: str, spoken_brand: str) -> Line:
    """One line of the given intent, mentioning ``spoken_brand`` where it fits."""
    lang, template = rng.choice(_LINES[intent])
    return Line(lang, template.format(brand=spoken_brand))


INTENTS = ("question", "order", "positive", "negative", "neutral")
INTENT_WEIGHTS = (3, 3, 2, 1, 2)
