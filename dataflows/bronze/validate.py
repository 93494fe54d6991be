"""Bronze validation: records in, accepted events and quarantine rows out.

Pure Python over a batch of :class:`~scout_contract.SourceRecord`; no Bytewax,
no ClickHouse. The fast path is a single typed msgspec decode per record; only
records that fail it pay for classifying *why*.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import msgspec

from dataflows.bronze.rules import Rule, RuleContext, RuleSet, Stage, all_pass, stage_failure
from dataflows.bronze.strict import strict_types
from dataflows.errors import Exit, ScoutError
from dataflows.rule_tally import PARTITION_BLOCK, partition_scope
from dataflows.tables import DqRow, QuarantineRow
from scout_contract import Event, SourceRecord, decode_event, ts_millis
from scout_contract.events import STREAM_OF_TYPE
from scout_contract.records import OFFSET_MAX, PARTITION_MAX, TIMESTAMP_MS_MAX
from scout_contract.streams import INPUT_TOPICS, NAMES

#: What decoding untrusted bytes may raise besides msgspec's own errors (bytes
#: that are not UTF-8, nesting deeper than the decoder allows).
_UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError, UnicodeError, RecursionError)
#: (topic, partition, block of offsets): what validation counts rules per
Block = tuple[str, int, int]


class QualityRuleFailure(ScoutError, RuntimeError):
    """A rule whose action is ``fail`` was broken: the dataflow must stop."""

    exit_code, label = Exit.QUALITY_RULE, "stopped by a quality rule"

    def __init__(self, rule: str, record: SourceRecord, reason: str) -> None:
        super().__init__(
            f"quality rule {rule!r} (action: fail) broken by record "
            f"{record.topic}/{record.partition}@{record.offset}: {reason}"
        )
        self.rule = rule


@dataclass(slots=True)
class Accepted:
    """A record whose payload passed every ``drop``/``fail`` rule."""

    event: Event
    record: SourceRecord
    stream: str
    ts_ms: int
    #: Partition key of the event clock: the device, or ``store/<id>`` for feedback.
    key: str
    warnings: tuple[str, ...] = ()


@dataclass
class ValidationResult:
    accepted: list[Accepted] = field(default_factory=list)
    quarantine_rows: list[QuarantineRow] = field(default_factory=list)
    #: this batch's counts per rule and block of records; the ``dq_tally`` step adds them up
    #: (:mod:`dataflows.rule_tally`)
    dq_rows: list[DqRow] = field(default_factory=list)


class Validator:
    """Applies a :class:`RuleSet` to batches of records."""

    def __init__(
        self,
        rules: RuleSet,
        topic_streams: dict[str, str] | None = None,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        strict: bool = True,
    ) -> None:
        self.rules = rules
        self.topic_streams = topic_streams or {t: s for s, t in INPUT_TOPICS.items()}
        self.now_ms = now_ms
        self._by_stream: dict[str, tuple[Rule, ...]] = {s: rules.for_stream(s) for s in NAMES}
        self._stream_of: dict[type, str] = dict(STREAM_OF_TYPE)
        self._strict: msgspec.json.Decoder[Any] | None = None
        self._fast_rules = self._by_stream
        if strict:
            types_, compiled = strict_types(rules.record_rules)
            self._stream_of.update(types_)
            self._strict = msgspec.json.Decoder(Union[tuple(types_)])  # noqa: UP007
            self._fast_rules = {s: tuple(r for r in rs if r.name not in compiled) for s, rs in self._by_stream.items()}
        # One call per event when every rule passes; the rules one by one only when one does not.
        self._fast_checks = {s: all_pass(rs, s) for s, rs in self._fast_rules.items()}
        self._slow_checks = {s: all_pass(rs, s) for s, rs in self._by_stream.items()}

    def validate(
        self,
        records: Iterable[SourceRecord],
        now: int | None = None,
        cleared: Mapping[Block, Mapping[str, int]] | None = None,
    ) -> ValidationResult:
        """Every record ends as exactly one accepted event or one quarantine row
        (or stops the dataflow through a ``fail`` rule); no other exception escapes.

        ``now``: the batch's processing time (default: the validator's clock). ``cleared``: per block
        and stream, records of the same batch that passed every rule elsewhere (the compiled decode
        path, :mod:`dataflows.bronze.columnar`); they count in the rule rows as passed."""
        out = ValidationResult()
        now = self.now_ms() if now is None else now
        ctx = RuleContext(now, self.topic_streams)
        # (topic, partition, block) → stream → records that passed every stage / (stream, rule) → failures
        decoded: dict[Block, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for block, counts in (cleared or {}).items():
            for stream, n in counts.items():
                decoded[block][stream] += n
        failed: dict[Block, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
        for rec in records:
            block = (rec.topic, rec.partition, rec.offset // PARTITION_BLOCK)
            try:
                self._one(rec, ctx, decoded[block], failed[block], out)
            except QualityRuleFailure:
                raise
            except Exception as exc:  # a bug's or a decoder's surprise must not stop the dataflow
                reason = f"record could not be evaluated: {type(exc).__name__}: {exc}"
                self._reject(rec, now, "contract", reason, failed[block], out)
        minute = now - now % 60_000
        for block in sorted(decoded.keys() | failed.keys()):
            topic, partition, index = block
            scope = partition_scope(topic, partition)
            out.dq_rows.extend(self._dq_rows(minute, scope, index, decoded.get(block, {}), failed.get(block, {})))
        return out

    def _one(
        self,
        rec: SourceRecord,
        ctx: RuleContext,
        decoded: dict[str, int],
        failed: dict[tuple[str, str], int],
        out: ValidationResult,
    ) -> None:
        now = ctx.now_ms
        problem = rec.envelope_error or _envelope_problem(rec)
        if problem is not None:
            self._reject(rec, now, "envelope", problem, failed, out)
            return
        try:
            if self._strict is None:
                raise msgspec.ValidationError("strict path disabled")
            event = self._strict.decode(rec.value)  # every compiled rule checked in C
            rules, checks = self._fast_rules, self._fast_checks
        except _UNDECODABLE:
            try:
                event = decode_event(rec.value)  # the contract alone; rules in Python
                rules, checks = self._by_stream, self._slow_checks
            except _UNDECODABLE:
                stage_name, reason = stage_failure(rec.value)
                self._reject(rec, now, stage_name, reason, failed, out)
                return
        stream = self._stream_of[type(event)]
        decoded[stream] += 1
        ts_ms = ts_millis(event.ts)
        broken: list[str] | None = None
        warnings: list[str] | None = None
        if not checks[stream](event, rec, ts_ms, ctx):  # some rule failed: which, one by one
            for rule in rules[stream]:
                if rule.passes(event, rec, ts_ms, ctx):
                    continue
                failed[(stream, rule.name)] += 1
                if rule.action == "fail":
                    raise QualityRuleFailure(rule.name, rec, f"{rule.check} check failed")
                if rule.action == "drop":
                    broken = [*(broken or ()), rule.name]
                else:
                    warnings = [*(warnings or ()), rule.name]
        if broken:
            out.quarantine_rows.append(
                self._row(rec, now, stream, event, broken, [f"{r}: check failed" for r in broken])
            )
        else:
            key = f"store/{event.store_id}" if stream == "feedback" else event.device_id
            out.accepted.append(Accepted(event, rec, stream, ts_ms, key, tuple(warnings or ())))

    def _dq_rows(
        self, minute: int, scope: str, block: int, decoded: dict[str, int], failed: dict[tuple[str, str], int]
    ) -> list[DqRow]:
        """Per (stream, rule), this batch's counts of one block: passed = evaluated - failed. A stage is
        evaluated for records that passed the stages before it; a record rule for records that passed
        every stage."""
        rows: list[DqRow] = []
        stages = list(self.rules.stage_rules.values())
        streams = set(decoded) | {s for s, _ in failed}

        def row(stream: str, rule: Rule | Stage, passed: int, f: int) -> DqRow:
            return DqRow(minute, stream, rule.name, rule.action, scope, block, passed, f, passed + f)

        for stream in sorted(streams):
            later_failures = 0
            for stage in reversed(stages):
                f = failed.get((stream, stage.name), 0)
                passed = decoded.get(stream, 0) + later_failures
                if passed or f:
                    rows.append(row(stream, stage, passed, f))
                later_failures += f
            n = decoded.get(stream, 0)
            if not n:
                continue
            for rule in self._by_stream.get(stream, ()):
                f = failed.get((stream, rule.name), 0)
                rows.append(row(stream, rule, n - f, f))
        return rows

    def _reject(
        self,
        rec: SourceRecord,
        now: int,
        stage_name: str,
        reason: str,
        failed: dict[tuple[str, str], int],
        out: ValidationResult,
    ) -> None:
        stream = self.topic_streams.get(rec.topic, "unknown")
        stage = self.rules.stage_rules[stage_name]
        failed[(stream, stage.name)] += 1
        if stage.action == "fail":
            raise QualityRuleFailure(stage.name, rec, reason)
        out.quarantine_rows.append(self._row(rec, now, stream, None, [stage.name], [f"{stage.name}: {reason}"]))

    @staticmethod
    def _row(
        rec: SourceRecord,
        now: int,
        stream: str,
        event: Event | None,
        rules: list[str],
        reasons: list[str],
    ) -> QuarantineRow:
        topic, partition, offset, record_ts = _storable_coordinates(rec)
        return QuarantineRow(
            topic=topic,
            partition=partition,
            offset=offset,
            record_ts=record_ts,
            key=rec.key or "",
            stream=stream,
            schema=_schema_of(event),
            event_id=event.event_id if event else _peek(rec.value, "event_id"),
            device_id=event.device_id if event else _peek(rec.value, "device_id"),
            store_id=event.store_id if event else _peek(rec.value, "store_id"),
            rules=rules,
            reasons=reasons,
            payload=rec.value,
            quarantined_at=now,
        )


def _schema_of(event: Event | None) -> str:
    if event is None:
        return ""
    tag = type(event).__struct_config__.tag
    return tag if isinstance(tag, str) else ""


def _envelope_problem(rec: SourceRecord) -> str | None:
    """Why a record's coordinates cannot be stored (``None`` when they can).

    >>> _envelope_problem(SourceRecord("t", 2**40, 0, 0, None, b"{}"))
    'partition 1099511627776 outside 0..2147483647'
    """
    if not 0 <= rec.partition <= PARTITION_MAX:
        return f"partition {rec.partition} outside 0..{PARTITION_MAX}"
    if not 0 <= rec.offset <= OFFSET_MAX:
        return f"offset {rec.offset} outside 0..{OFFSET_MAX}"
    if not 0 <= rec.timestamp_ms <= TIMESTAMP_MS_MAX:
        return f"record timestamp {rec.timestamp_ms} ms outside 0..{TIMESTAMP_MS_MAX}"
    if not rec.topic:
        return "empty topic"
    return None


def _storable_coordinates(rec: SourceRecord) -> tuple[str, int, int, int]:
    """The record's coordinates, with values no column can hold replaced by -1 / 0
    (the quarantine row's reason names the originals)."""
    partition = rec.partition if -1 <= rec.partition <= PARTITION_MAX else -1
    offset = rec.offset if -1 <= rec.offset <= OFFSET_MAX else -1
    ts = rec.timestamp_ms if 0 <= rec.timestamp_ms <= TIMESTAMP_MS_MAX else 0
    return rec.topic, partition, offset, ts


def _peek(payload: bytes, name: str) -> str:
    """Best-effort field from a payload that failed the contract (for triage)."""
    try:
        obj = msgspec.json.decode(payload)
    except _UNDECODABLE:
        return ""
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""
