"""Check topic files against the contract and the quality rules, writing nothing (``scout contract check``).

The files are read exactly as the dataflow's file source reads them (:func:`~dataflows.sources.file.read_batches`: byte
order mark, oversized and torn lines) and validated as its bronze step would, on the compiled
decode path when it is built (:mod:`dataflows.bronze.columnar`): what would be accepted per stream,
what quarantined, and which rules would fail how often (warnings included) — before a replay of
a file from a device, or to try a changed rules file on real input.

Duplicate event ids and lateness are not checked: they depend on the order and the history of
each device's events, which the per-key event clock of the dataflow holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from dataflows.bronze.columnar import compiled_decoder, validate_columnar
from dataflows.bronze.validate import Validator
from dataflows.sources.file import read_batches
from dataflows.tables import QuarantineRow


@dataclass
class CheckResult:
    """What the bronze step would make of the files."""

    records: int = 0
    #: stream → records accepted into bronze
    accepted: Counter[str] = field(default_factory=Counter)
    #: stream → records quarantined (``unknown`` for a record whose topic is no configured stream's)
    quarantined: Counter[str] = field(default_factory=Counter)
    #: (stream, rule, action) → records that failed the rule (``warn`` rules included)
    failed: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    #: whether the compiled decode path ran, and the records it cleared on its own
    compiled: bool = False
    cleared: int = 0


def check_files(
    paths: Iterable[Path],
    validator: Validator,
    batch_size: int = 20_000,
    advance: Callable[[int], None] = lambda _bytes: None,
    quarantine: Callable[[QuarantineRow], object] | None = None,
) -> CheckResult:
    """Validate every record of the topic files; ``advance(bytes)`` reports progress and
    ``quarantine`` receives each quarantine row. A rule whose action is ``fail`` raises
    :class:`~dataflows.bronze.validate.QualityRuleFailure`, as it stops the dataflow."""
    decoder = compiled_decoder(validator)
    out = CheckResult(compiled=decoder is not None)
    for records in read_batches(list(paths), batch_size, advance):
        result = validate_columnar(validator, records, decoder)
        out.records += len(records)
        out.cleared += result.cleared
        for stream, batch in result.batches.items():
            out.accepted[stream] += batch.num_rows
        for row in result.quarantine_rows:
            out.quarantined[row.stream] += 1
            if quarantine is not None:
                quarantine(row)
        for dq in result.dq_rows:
            if dq.failed:
                out.failed[(dq.stream, dq.rule, dq.action)] += dq.failed
    return out


def quarantine_line(row: QuarantineRow) -> bytes:
    """A quarantine row as one JSON line (the payload as base64: it may not be UTF-8)."""
    return msgspec.json.encode(row._asdict())
