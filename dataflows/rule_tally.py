"""Rule counts that a resume cannot count twice: cumulative per block of records, replaced by version.

``dq_rule_metrics`` holds, for each rule, its passed and failed counts per *block*:
a run of consecutive records of one *scope* —

* a source partition (``scope`` = ``topic/partition``): the records whose offsets fall in
  ``[block × PARTITION_BLOCK, (block + 1) × PARTITION_BLOCK)``; the record rules of
  validation are counted so (:class:`~dataflows.bronze.validate.Validator` hands partial
  counts, the ``dq_tally`` step keyed by scope adds them up);
* a device (``device/<id>``, or ``store/<id>`` for feedback): its ``DEVICE_BLOCK``
  consecutive evaluations of one rule (duplicates in the event clock, clock skew in the
  gold windows), counted in that device's state.

A :class:`RuleTally` keeps the *cumulative* counts of the current block of each rule and,
after each batch, returns one row per block the batch changed, with
``version = passed + failed``. The table is ``ReplacingMergeTree(version)`` keyed by
``(stream, rule, action, scope, block)``, so a block's row with the most evaluations
wins. Why a resume cannot count twice: the tally is part of the recovery snapshot, taken
at the same epoch as the source's offsets; a resumed run starts from those counts and
evaluates the same records again, so it reaches every block's full count — the same
count the killed run would have reached — and the rows the killed run wrote for an
unfinished epoch carry fewer evaluations (or as many, with the same counts, when the
records of a scope are evaluated in the same order: offsets within a partition, a device's
records within its stream). A ``count()`` or ``sum()`` without ``FINAL`` adds up every
version of a block and overstates; dashboards read it with ``FINAL``.

>>> tally = RuleTally()
>>> key = ("stt", "unique_event_id", "drop")
>>> tally.evaluate("device/pi-1", key, [True, True, False], block_size=2)
>>> [(r.block, r.passed, r.failed, r.version) for r in tally.rows(now=61_000)]
[(0, 2, 0, 2), (1, 0, 1, 1)]
>>> again = RuleTally(tally.copy())  # a resume: the snapshot's counts, then the same records again
>>> again.add("stt/0", key, block=1, passed=3, failed=0)
>>> [(r.scope, r.block, r.version) for r in again.rows(now=61_000)]
[('stt/0', 1, 3)]
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from dataflows.tables import DqRow

log = structlog.get_logger(__name__)

#: Offsets per block of a source partition (a block's row is rewritten until its offsets are read).
PARTITION_BLOCK = 1024
#: Evaluations per block of one device's rule (a device sends far fewer records than a partition).
DEVICE_BLOCK = 128

#: Blocks kept per scope and rule: the newest and the one before (offsets of a file can step back a little).
KEEP_BLOCKS = 2

#: ``(stream, rule, action)``
RuleKey = tuple[str, str, str]
#: ``(scope, (stream, rule, action))``
ScopeRule = tuple[str, RuleKey]
#: block → ``(passed, failed)`` of one scope's rule: what a snapshot holds
Blocks = dict[int, tuple[int, int]]


def partition_scope(topic: str, partition: int) -> str:
    """The scope of a source partition's record rules."""
    return f"{topic}/{partition}"


def key_scope(key: str) -> str:
    """The scope of an event-clock key's or a device's rules (``store/<id>`` keys stay as they are)."""
    return key if key.startswith("store/") else f"device/{key}"


class RuleTally:
    """The newest blocks' cumulative counts of every (scope, rule) it has seen; rows for changed blocks."""

    def __init__(self, counts: dict[ScopeRule, Blocks] | None = None) -> None:
        self._counts: dict[ScopeRule, dict[int, list[int]]] = {
            k: {b: list(c) for b, c in blocks.items()} for k, blocks in (counts or {}).items()
        }
        self._dirty: set[tuple[ScopeRule, int]] = set()
        #: blocks no longer kept whose last counts are still to be written (their count lists)
        self._finished: list[tuple[ScopeRule, int, list[int]]] = []

    def copy(self) -> dict[ScopeRule, Blocks]:
        """The counts as plain tuples (a snapshot shares nothing with the tally)."""
        return {k: {b: (c[0], c[1]) for b, c in blocks.items()} for k, blocks in self._counts.items()}

    def add(self, scope: str, key: RuleKey, block: int, passed: int, failed: int) -> None:
        """Add a batch's counts of one block."""
        counts = self._block((scope, key), block)
        counts[0] += passed
        counts[1] += failed

    def evaluate(self, scope: str, key: RuleKey, verdicts: list[bool], block_size: int = DEVICE_BLOCK) -> None:
        """Count evaluations in the order they were made (``True``: passed); a scope's evaluations fill
        blocks of ``block_size`` one after the other."""
        blocks = self._counts.get((scope, key), {})
        block = max(blocks, default=0)
        if block in blocks and sum(blocks[block]) >= block_size:  # the newest block is full
            block += 1
        i = 0
        while i < len(verdicts):
            counts = self._block((scope, key), block)
            part = verdicts[i : i + block_size - counts[0] - counts[1]]
            passed = sum(part)
            counts[0] += passed
            counts[1] += len(part) - passed
            i += len(part)
            block += 1

    def rows(self, now: int) -> list[DqRow]:
        """One row per block changed since the last call (blocks left behind included); forget the changes."""
        minute = now - now % 60_000
        changed = [*self._finished, *((sk, block, self._counts[sk][block]) for sk, block in sorted(self._dirty))]
        out = [DqRow(minute, *key, scope, block, p, f, p + f) for (scope, key), block, (p, f) in changed]
        self._finished.clear()
        self._dirty.clear()
        return out

    def _block(self, sk: ScopeRule, block: int) -> list[int]:
        blocks = self._counts.setdefault(sk, {})
        counts = blocks.get(block)
        if counts is not None:
            self._dirty.add((sk, block))
            return counts
        counts = [0, 0]
        if len(blocks) >= KEEP_BLOCKS and block < min(blocks):
            # offsets went back further than the blocks kept: counted afresh, so this block's row may lose
            # to the one written before (an undercount, logged); never seen with Kafka, whose offsets only grow
            log.warning("rule counts: a block already left came again", scope=sk[0], rule=sk[1][1], block=block)
            self._finished.append((sk, block, counts))
            return counts
        blocks[block] = counts
        self._dirty.add((sk, block))
        while len(blocks) > KEEP_BLOCKS:
            oldest = min(blocks)
            left = blocks.pop(oldest)
            if (sk, oldest) in self._dirty:
                self._dirty.discard((sk, oldest))
                self._finished.append((sk, oldest, left))
        return counts


#: Version of :class:`TallyState`; a recovery store holding another is refused (exit 2).
TALLY_STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class TallyState:
    """A :class:`RuleTally`'s counts at a snapshot (the ``dq_tally`` step's state): a copy."""

    counts: dict[ScopeRule, Blocks]
    version: int = TALLY_STATE_VERSION
