"""What the per-key stage tells the gold windows: one typed fact per thing a window counts.

A :data:`Fact` is one of six frozen msgspec structs (a tagged union handled with
``match``); each carries where and when (``store_id``, ``device_id``, ``ts``,
``event_id``) and what the window needs of it. msgspec structs because one is made
for most events: they are built faster than frozen dataclasses (bench/README.md,
"Figures quoted by the code"), and they hold no cycles, so the collector skips them.

>>> from dataflows.silver.annotate import Annotation
>>> f = UtteranceFact("STORE-0001", "SCOUTPI-0001", 1_000, "e-1", Annotation(True, False, (), 0.5, 3), "tl")
>>> match f:
...     case UtteranceFact(note=note, lang=lang):
...         print(f.kind, note.sentiment, lang)
utterance 0.5 tl
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from dataflows.silver.annotate import Annotation
from dataflows.silver.sessions import Interaction
from scout_contract import FeedbackV1, HeartbeatV1


class _Fact(msgspec.Struct, frozen=True, gc=False):
    store_id: str
    device_id: str
    ts: int
    event_id: str

    #: the stream label of a fact that arrives after its window was evicted (``late_events.stream``)
    kind: ClassVar[str]


class ActivityFact(_Fact, frozen=True, gc=False):
    """The device sent an on-time stt, visual or heartbeat event in the hour starting at ``ts``."""

    kind: ClassVar[str] = "activity"


class UtteranceFact(_Fact, frozen=True, gc=False):
    """An on-time utterance, with its lexicon tags."""

    note: Annotation
    lang: str
    kind: ClassVar[str] = "utterance"


class SightingFact(_Fact, frozen=True, gc=False):
    """A frame in which these brands were seen."""

    brands: tuple[str, ...]
    kind: ClassVar[str] = "sighting"


class HeartbeatFact(_Fact, frozen=True, gc=False):
    """An on-time heartbeat."""

    heartbeat: HeartbeatV1
    kind: ClassVar[str] = "heartbeat"


class FeedbackFact(_Fact, frozen=True, gc=False):
    """An advisor's action on an insight."""

    feedback: FeedbackV1
    kind: ClassVar[str] = "feedback"


class InteractionFact(_Fact, frozen=True, gc=False):
    """A closed session (``ts`` is its ``started_at``)."""

    interaction: Interaction
    kind: ClassVar[str] = "interaction"


Fact = ActivityFact | UtteranceFact | SightingFact | HeartbeatFact | FeedbackFact | InteractionFact
