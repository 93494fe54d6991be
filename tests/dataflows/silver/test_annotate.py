from __future__ import annotations

import pytest

from dataflows.silver.annotate import Lexicon


@pytest.mark.parametrize(
    ("text", "greeting", "question", "brands"),
    [
        ("Magandang hapon po, ate", True, False, ()),
        ("Good morning! Do you have Coke?", True, True, ("coca-cola",)),
        ("Pabili po ng pancit canton at isang Lucky Me", False, False, ("lucky-me", "lucky-me")),
        ("Magkano ang Red Horse", False, True, ("red-horse",)),
        ("", False, False, ()),
    ],
)
def test_tags(lexicon: Lexicon, text: str, greeting: bool, question: bool, brands: tuple[str, ...]) -> None:
    a = lexicon.annotate(text)
    assert (a.greeting, a.question, a.brands) == (greeting, question, brands)


def test_sentiment_is_bounded_and_negation_flips_it(lexicon: Lexicon) -> None:
    assert lexicon.annotate("Salamat po, ang sarap").sentiment == 1.0
    assert lexicon.annotate("hindi masarap").sentiment == -1.0
    assert lexicon.annotate("mura pero sold out").sentiment == 0.0
    assert lexicon.annotate("isa pong kape").sentiment == 0.0
    assert -1.0 <= lexicon.annotate("good bad bad").sentiment < 0


def test_word_boundaries_matter(lexicon: Lexicon) -> None:
    assert not lexicon.annotate("hindi ko alam").greeting  # "hi" inside "hindi" is no greeting
    assert lexicon.annotate("cokezero").brands == ()
