"""Quality rules declared in a rules file (SPEC §3), compiled to predicates.

A rule names a *check* (a small, fixed vocabulary implemented here), the
streams it applies to and an action (``warn``, ``drop``, ``fail``), like
Delta Live Tables expectations. The rules themselves live in YAML.

>>> rules = load_rules_text('''
... rules:
...   - {name: json_parse, check: json, action: drop}
...   - {name: conf, streams: [stt], check: range, field: confidence, min: 0, max: 1, action: drop}
... ''')
>>> [r.name for r in rules.record_rules], rules.stage_rules["json"].action
(['conf'], 'drop')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from dataflows.errors import Exit, ScoutError
from scout_contract import SCHEMAS, Event, FeedbackV1, SourceRecord, decode_event, stream_of, ts_millis
from scout_contract.streams import NAMES

Action = Literal["warn", "drop", "fail"]
#: Parse stages in order: a record failing one is not evaluated by the rules after it.
STAGES = ("envelope", "json", "schema_known", "contract")
STREAMS = frozenset(NAMES)
_ACTIONS = frozenset({"warn", "drop", "fail"})
_FIXED_LABELS = frozenset({"face", "person", "hand"})


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may consult besides the record: made once per batch by the validator."""

    #: Processing (ingest) time of the batch, ms since the epoch.
    now_ms: int
    #: Configured topic -> stream.
    topic_streams: Mapping[str, str]


#: ``passes(event, record, event time in ms, context)``
Predicate = Callable[[Event, SourceRecord, int, RuleContext], bool]


class RulesError(ScoutError, ValueError):
    """The rules file is invalid."""

    exit_code, label = Exit.USAGE, "error"


@dataclass(frozen=True)
class Rule:
    """One compiled rule: ``passes(event, record)`` is True when the record is fine."""

    name: str
    check: str
    action: Action
    streams: frozenset[str]
    passes: Predicate = field(compare=False, repr=False)
    #: The rule as written in the file.
    spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Stage:
    """A parsing stage (json, schema_known, contract) and the rule governing it."""

    name: str
    action: Action


@dataclass(frozen=True)
class RuleSet:
    """Stage rules (keyed by check) and the per-record rules, in file order."""

    stage_rules: dict[str, Stage]
    record_rules: tuple[Rule, ...]

    def for_stream(self, stream: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.record_rules if stream in r.streams)


Values = Callable[[Any], list[Any]]


def _path_reader(path: str) -> Values:
    """Compile a dotted path into a function returning every value at it.

    ``name[]`` walks each element of a list; ``None`` values are skipped (an
    optional field that is absent satisfies every check).

    >>> from types import SimpleNamespace as NS
    >>> ev = NS(detections=[NS(bbox=[0.1, 0.2]), NS(bbox=[0.3])], width=640, temp=None)
    >>> _path_reader("detections[].bbox[]")(ev), _path_reader("width")(ev), _path_reader("temp")(ev)
    ([0.1, 0.2, 0.3], [640], [])
    """
    parts = path.split(".")
    # The shapes the rules file uses, read without a chain of closures (the hot path of validation).
    if len(parts) == 1 and not parts[0].endswith("[]"):
        name = parts[0]
        return lambda obj: [] if (v := getattr(obj, name, None)) is None else [v]
    if len(parts) == 2 and parts[0].endswith("[]") and not parts[1].endswith("[]"):
        outer, inner = parts[0][:-2], parts[1]
        return lambda obj: [v for o in (getattr(obj, outer, None) or ()) if (v := getattr(o, inner, None)) is not None]
    read: Values = lambda obj: [obj]  # noqa: E731
    for part in parts:
        many = part.endswith("[]")
        name = part[:-2] if many else part
        read = _step(read, name, many)
    return read


def _step(inner: Values, name: str, many: bool) -> Values:
    if many:
        return lambda obj: [v for o in inner(obj) for v in (getattr(o, name, None) or ())]
    return lambda obj: [v for o in inner(obj) if (v := getattr(o, name, None)) is not None]


def _values(spec: dict[str, Any], rule_name: str) -> Values:
    if "field" not in spec:
        raise RulesError(f"rule {rule_name!r}: check {spec['check']!r} needs a 'field'")
    return _path_reader(str(spec["field"]))


def _label_known(label: str) -> bool:
    if label in _FIXED_LABELS:
        return True
    kind, _, name = label.partition(":")
    return kind in ("brand", "gesture") and bool(name)


#: Labels found known so far (a pure function's answers), so most labels cost one set
#: lookup; bounded, so hostile input cannot grow it without end.
_KNOWN_LABELS: set[str] = set(_FIXED_LABELS)
_KNOWN_LABELS_MAX = 4096


def _labels_known(labels: list[Any]) -> bool:
    """``_label_known`` of every label (the hot path of a visual event's validation).

    >>> _labels_known(["face", "brand:piattos"]), _labels_known(["brand:"]), _labels_known([])
    (True, False, True)
    """
    known = _KNOWN_LABELS
    for label in labels:
        if label in known:
            continue
        if not _label_known(label):
            return False
        if len(known) < _KNOWN_LABELS_MAX:
            known.add(label)
    return True


def min_ts_ms(spec: dict[str, Any]) -> int:
    """``min`` (RFC 3339) of a ``ts_min`` rule, in ms since the epoch."""
    return ts_millis(datetime.fromisoformat(str(spec["min"]).replace("Z", "+00:00")))


def max_ms(spec: dict[str, Any]) -> int:
    """``max_seconds`` of a ``ts_max_*`` rule, in whole ms."""
    return int(float(spec["max_seconds"]) * 1000)


def _compile(spec: dict[str, Any], name: str) -> Predicate:
    check = spec["check"]
    if check == "range":
        values = _values(spec, name)
        lo = float(spec.get("min", float("-inf")))
        hi = float(spec.get("max", float("inf")))

        def in_range(ev: Event, rec: SourceRecord, ts: int, ctx: RuleContext) -> bool:
            vs = values(ev)
            return not vs or (min(vs) >= lo and max(vs) <= hi)

        return in_range
    if check in ("max_length", "list_length", "min_length"):
        values = _values(spec, name)
        lo = int(spec.get("min", 0))
        hi = int(spec.get("max", 2**62))

        def length_ok(ev: Event, rec: SourceRecord, ts: int, ctx: RuleContext) -> bool:
            lens = [len(v) for v in values(ev)]
            return not lens or (min(lens) >= lo and max(lens) <= hi)

        return length_ok
    if check == "in_set":
        values = _values(spec, name)
        allowed = frozenset(spec["values"])
        return lambda ev, rec, ts, ctx: all(v in allowed for v in values(ev))
    if check == "label_known":
        values = _values(spec, name)
        return lambda ev, rec, ts, ctx: _labels_known(values(ev))
    if check == "ts_min":
        bound = min_ts_ms(spec)
        return lambda ev, rec, ts, ctx: ts >= bound
    if check == "ts_max_skew":
        skew_ms = max_ms(spec)
        return lambda ev, rec, ts, ctx: ts <= rec.timestamp_ms + skew_ms
    if check == "ts_max_ahead_of_ingest":
        ahead_ms = max_ms(spec)
        return lambda ev, rec, ts, ctx: ts <= ctx.now_ms + ahead_ms
    if check == "topic_matches_schema":
        return lambda ev, rec, ts, ctx: ctx.topic_streams.get(rec.topic) == stream_of(ev)
    if check == "key_matches":
        return lambda ev, rec, ts, ctx: rec.key == (ev.store_id if isinstance(ev, FeedbackV1) else ev.device_id)
    raise RulesError(f"rule {name!r}: unknown check {check!r}")


def _inline(rule: Rule, stream: str) -> str | None:
    """A Python expression over ``ev, rec, ts, ctx`` equal to ``rule.passes`` for events of
    ``stream`` (the rules checked once per event in Python), or ``None``. Only numbers
    computed by ``int()`` and names of :data:`STREAMS` are written into the expression."""
    spec = rule.spec
    if rule.check == "ts_min":
        return f"ts >= {min_ts_ms(spec)!r}"
    if rule.check == "ts_max_skew":
        return f"ts <= rec.timestamp_ms + {max_ms(spec)!r}"
    if rule.check == "ts_max_ahead_of_ingest":
        return f"ts <= ctx.now_ms + {max_ms(spec)!r}"
    if rule.check == "topic_matches_schema" and stream in STREAMS:
        return f"ctx.topic_streams.get(rec.topic) == {stream!r}"
    if rule.check == "key_matches":
        return "rec.key == ev.store_id" if stream == "feedback" else "rec.key == ev.device_id"
    return None


def all_pass(rules: tuple[Rule, ...], stream: str) -> Predicate:
    """One predicate that is True when every rule passes, for events of ``stream``.

    The validator calls it once per event and looks at the rules one by one only when it
    is False. The simple checks are written inline into one generated function (one call
    per event instead of one per rule); the others are called as compiled.
    ``tests/dataflows/bronze/test_rules.py`` checks it against ``all(rule.passes ...)``.

    >>> rules = load_rules().for_stream("visual")
    >>> from datetime import timezone
    >>> from scout_contract import VisualV1
    >>> ev = VisualV1(event_id="e", device_id="d", store_id="s", frame_id=1, width=1, height=1,
    ...               model_version="m", detections=[], ts=datetime(2025, 5, 19, tzinfo=timezone.utc))
    >>> ctx = RuleContext(1747612800000, {"eh-pi-visual-stream": "visual"})
    >>> check = all_pass(rules, "visual")
    >>> [check(ev, SourceRecord("eh-pi-visual-stream", 0, 0, 1747612800000, key, b""), 1747612800000, ctx)
    ...  for key in ("d", "x")]
    [True, False]
    """
    if not rules:
        return lambda ev, rec, ts, ctx: True
    namespace: dict[str, Any] = {}
    terms = []
    for i, rule in enumerate(rules):
        expr = _inline(rule, stream)
        if expr is None:
            namespace[f"_p{i}"] = rule.passes
            expr = f"_p{i}(ev, rec, ts, ctx)"
        terms.append(f"({expr})")
    source = "def check(ev, rec, ts, ctx):\n    return bool(" + " and ".join(terms) + ")\n"
    exec(compile(source, f"<rules for {stream}>", "exec"), namespace)
    check: Predicate = namespace["check"]
    return check


def parse_rules(doc: Any) -> RuleSet:
    """Validate and compile a parsed rules document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise RulesError("a rules file is a mapping with a 'rules' list")
    stages: dict[str, Stage] = {}
    record_rules: list[Rule] = []
    seen: set[str] = set()
    for spec in doc["rules"]:
        if not isinstance(spec, dict) or not {"name", "check", "action"} <= spec.keys():
            raise RulesError(f"every rule needs name, check and action: {spec!r}")
        name, check, action = str(spec["name"]), str(spec["check"]), spec["action"]
        if name in seen:
            raise RulesError(f"rule name {name!r} appears twice")
        seen.add(name)
        if action not in _ACTIONS:
            raise RulesError(f"rule {name!r}: action must be one of {sorted(_ACTIONS)}, not {action!r}")
        streams = frozenset(spec.get("streams", STREAMS))
        if not streams <= STREAMS:
            raise RulesError(f"rule {name!r}: unknown streams {sorted(streams - STREAMS)}")
        if check in STAGES:
            if action == "warn":
                raise RulesError(f"rule {name!r}: a record failing {check!r} cannot be kept (use drop or fail)")
            stages[check] = Stage(name, action)
            continue
        record_rules.append(Rule(name, check, action, streams, _compile(spec, name), dict(spec)))
    # Stages are kept in parse order (envelope, json, schema_known, contract); one the file
    # does not name quarantines (drop) under the check's own name.
    ordered = {check: stages.get(check, Stage(check, "drop")) for check in STAGES}
    return RuleSet(ordered, tuple(record_rules))


def load_rules_text(text: str) -> RuleSet:
    return parse_rules(yaml.safe_load(text))


def load_rules(path: Path | None = None) -> RuleSet:
    """Load a rules file; ``None`` loads the rules shipped with the package."""
    if path is None:
        text = resources.files("dataflows.resources").joinpath("rules.yaml").read_text("utf-8")
    else:
        try:
            text = Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError(f"cannot read the rules file {path}: {exc}") from exc
    try:
        return load_rules_text(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"rules file is not valid YAML: {exc}") from exc


def stage_failure(payload: bytes) -> tuple[str, str]:
    """Classify why a payload failed typed decoding: ``(stage, message)``.

    Never raises: bytes that are not UTF-8, nesting deeper than the decoder
    allows, anything the decoder rejects is a ``json`` failure.

    >>> stage_failure(b"[" * 100_000)[0], stage_failure(b'{"a": "' + bytes([0xFF]) + b'"}')[0]
    ('json', 'json')
    """
    try:
        obj = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        return "json", f"invalid JSON: {exc}"
    except (UnicodeError, RecursionError) as exc:
        return "json", f"invalid JSON: {type(exc).__name__}: {exc}"
    if not isinstance(obj, dict):
        return "json", f"payload is a JSON {type(obj).__name__}, not an object"
    schema = obj.get("schema")
    if schema not in SCHEMAS:
        return "schema_known", f"unknown schema {schema!r}"
    try:
        decode_event(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return "contract", str(exc)
    except (UnicodeError, RecursionError) as exc:  # pragma: no cover - the plain decode above raised first
        return "contract", f"{type(exc).__name__}: {exc}"
    return "contract", "decoded on retry"  # pragma: no cover - defensive
