"""Bronze validation: records in, accepted events and quarantine rows out.

Pure Python over a batch of :class:`~scout_contract.SourceRecord`; no Bytewax,
no ClickHouse. The fast path is a single typed msgspec decode per record; only
records that fail it pay for classifying *why*.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from dataflows.bronze.rules import RuleSet, stage_failure
from scout_contract import Event, SourceRecord, decode_event, stream_of, ts_millis
from scout_contract.topics import INPUT_TOPICS


class QualityRuleFailure(RuntimeError):
    """A rule whose action is ``fail`` was broken: the dataflow must stop."""

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


#: Column order of ``quarantine_events`` rows (see clickhouse/migrations).
QUARANTINE_COLUMNS = (
    "topic", "partition", "offset", "record_ts", "key", "stream", "schema",
    "event_id", "device_id", "store_id", "rules", "reasons", "payload", "quarantined_at",
)  # fmt: skip

#: Column order of ``dq_rule_metrics`` rows.
DQ_COLUMNS = ("minute", "stream", "rule", "action", "passed", "failed")


@dataclass
class ValidationResult:
    accepted: list[Accepted] = field(default_factory=list)
    quarantine_rows: list[tuple[object, ...]] = field(default_factory=list)
    dq_rows: list[tuple[object, ...]] = field(default_factory=list)


def clock_key(event: Event) -> str:
    """The key whose event-time clock orders this event (SPEC §2 Kafka keys)."""
    return f"store/{event.store_id}" if stream_of(event) == "feedback" else event.device_id


class Validator:
    """Applies a :class:`RuleSet` to batches of records."""

    def __init__(
        self,
        rules: RuleSet,
        topic_streams: dict[str, str] | None = None,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.rules = rules
        self.topic_streams = topic_streams or {t: s for s, t in INPUT_TOPICS.items()}
        self.now_ms = now_ms
        self._by_stream = {s: rules.for_stream(s) for s in ("stt", "visual", "heartbeat", "feedback")}

    def validate(self, records: Iterable[SourceRecord]) -> ValidationResult:
        out = ValidationResult()
        now = self.now_ms()
        minute = now - now % 60_000
        # (stream, rule) -> [passed, failed]
        counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        stages = self.rules.stage_rules
        for rec in records:
            try:
                event = decode_event(rec.value)
            except (msgspec.ValidationError, msgspec.DecodeError):
                self._reject_stage(rec, now, counts, out)
                continue
            stream = stream_of(event)
            for stage in stages.values():
                counts[(stream, stage.name)][0] += 1
            ts_ms = ts_millis(event.ts)
            broken: list[str] = []
            warnings: list[str] = []
            for rule in self._by_stream[stream]:
                c = counts[(stream, rule.name)]
                if rule.passes(event, rec):
                    c[0] += 1
                    continue
                c[1] += 1
                if rule.action == "fail":
                    raise QualityRuleFailure(rule.name, rec, f"{rule.check} check failed")
                (broken if rule.action == "drop" else warnings).append(rule.name)
            if broken:
                out.quarantine_rows.append(
                    self._row(rec, now, stream, event, broken, [f"{r}: check failed" for r in broken])
                )
            else:
                out.accepted.append(Accepted(event, rec, stream, ts_ms, clock_key(event), tuple(warnings)))
        action = {r.name: r.action for r in self.rules.record_rules}
        action.update({s.name: s.action for s in stages.values()})
        out.dq_rows = [(minute, s, r, action[r], p, f) for (s, r), (p, f) in counts.items()]
        return out

    def _reject_stage(
        self,
        rec: SourceRecord,
        now: int,
        counts: dict[tuple[str, str], list[int]],
        out: ValidationResult,
    ) -> None:
        stage_name, reason = stage_failure(rec.value)
        stream = self.topic_streams.get(rec.topic, "unknown")
        for check, stage in self.rules.stage_rules.items():
            if check == stage_name:
                counts[(stream, stage.name)][1] += 1
                if stage.action == "fail":
                    raise QualityRuleFailure(stage.name, rec, reason)
                break
            counts[(stream, stage.name)][0] += 1
        rule = self.rules.stage_rules[stage_name].name
        out.quarantine_rows.append(self._row(rec, now, stream, None, [rule], [f"{rule}: {reason}"]))

    @staticmethod
    def _row(
        rec: SourceRecord,
        now: int,
        stream: str,
        event: Event | None,
        rules: list[str],
        reasons: list[str],
    ) -> tuple[object, ...]:
        return (
            rec.topic,
            rec.partition,
            rec.offset,
            rec.timestamp_ms,
            rec.key or "",
            stream,
            _schema_of(event),
            event.event_id if event else _peek(rec.value, "event_id"),
            event.device_id if event else _peek(rec.value, "device_id"),
            event.store_id if event else _peek(rec.value, "store_id"),
            rules,
            reasons,
            rec.value,
            now,
        )


def _schema_of(event: Event | None) -> str:
    if event is None:
        return ""
    tag = type(event).__struct_config__.tag
    return tag if isinstance(tag, str) else ""


def _peek(payload: bytes, name: str) -> str:
    """Best-effort field from a payload that failed the contract (for triage)."""
    try:
        obj = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return ""
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""
