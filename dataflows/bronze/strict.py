"""Compile value rules into msgspec constraints: the fast path of validation.

Range and length rules from the rules file become ``msgspec.Meta``
constraints on subclasses of the contract's event types, so a record that
breaks none of them is checked in C while it is decoded. Label and set rules
(``label_known``, ``in_set``) are not constraints (see :func:`constraint`): the
one generated all-pass check of each stream (:func:`dataflows.bronze.rules.all_pass`)
runs them in Python after the decode. Only a record that
fails the strict decode (well under 1 % in practice) is decoded again
leniently and run through the Python predicates, which name every rule it
broke. Both paths give the same verdicts (a test runs both on the same input).

The generated classes subclass the contract's (``isinstance`` still works),
keep their schema tags, and are registered in this module under stable
names so that Bytewax can pickle events between worker processes.
"""

from __future__ import annotations

import sys
import types
import typing
import zlib
from collections.abc import Callable
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from dataflows.bronze.rules import Rule
from scout_contract.events import FeedbackV1, HeartbeatV1, SttV1, SttV2, VisualV1

_BASES: dict[str, tuple[type[msgspec.Struct], ...]] = {
    "stt": (SttV1, SttV2),
    "visual": (VisualV1,),
    "heartbeat": (HeartbeatV1,),
    "feedback": (FeedbackV1,),
}
_MODULE = sys.modules[__name__]


def constraint(rule: Rule, spec: dict[str, Any]) -> msgspec.Meta | None:
    """The msgspec constraint equivalent to a rule, or None if it has none."""
    if rule.check == "range":
        kw = {}
        if "min" in spec:
            kw["ge"] = spec["min"]
        if "max" in spec:
            kw["le"] = spec["max"]
        return msgspec.Meta(**kw)
    if rule.check in ("max_length", "min_length", "list_length"):
        kw = {}
        if "min" in spec:
            kw["min_length"] = int(spec["min"])
        if "max" in spec:
            kw["max_length"] = int(spec["max"])
        return msgspec.Meta(**kw)
    # label_known and in_set have no constraint: msgspec checks a ``pattern`` by calling Python's
    # ``re`` for every string (most of a visual record's decode time; bench/README.md, "Figures
    # quoted by the code"), and a regex's ``$`` also accepts a trailing newline, which the Python
    # predicates refuse.
    return None


def _constrain(tp: Any, path: list[str], meta: msgspec.Meta, name_hint: str) -> Any:
    """Return ``tp`` with ``meta`` applied at ``path`` (``[]`` = list elements)."""
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *metas = get_args(tp)
        return Annotated[(_constrain(inner, path, meta, name_hint), *metas)]
    if origin in (Union, types.UnionType):
        parts = [a if a is type(None) else _constrain(a, path, meta, name_hint) for a in get_args(tp)]
        return Union[tuple(parts)]  # noqa: UP007
    if not path:
        return Annotated[tp, meta]
    head, rest = path[0], path[1:]
    if head == "[]":
        if origin is not list:
            raise TypeError(f"{name_hint}: '[]' on a non-list type {tp!r}")
        (elem,) = get_args(tp)
        return list[_constrain(elem, rest, meta, name_hint)]  # type: ignore[misc]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _with_field(tp, head, lambda ft: _constrain(ft, rest, meta, name_hint), name_hint)
    raise TypeError(f"{name_hint}: cannot apply a constraint at {head!r} of {tp!r}")


def _with_field(
    struct: type[msgspec.Struct], field: str, change: Callable[[Any], Any], name_hint: str
) -> type[msgspec.Struct]:
    hints = typing.get_type_hints(struct, include_extras=True)
    if field not in hints:
        raise TypeError(f"{name_hint}: {struct.__name__} has no field {field!r}")
    info = {f.name: f for f in msgspec.structs.fields(struct)}[field]
    default: Any = msgspec.NODEFAULT if info.required else info.default
    if info.default_factory is not msgspec.NODEFAULT:
        default = msgspec.field(default_factory=info.default_factory)
    cfg = struct.__struct_config__
    root = struct.__name__.split("_")[0]
    name = f"{root}_{zlib.crc32(f'{struct.__name__}|{name_hint}|{field}'.encode()):08x}"
    new = msgspec.defstruct(
        name,
        [(field, change(hints[field]), default)],
        bases=(struct,),
        module=__name__,
        frozen=cfg.frozen,
        kw_only=True,
        tag=cfg.tag,
        tag_field=cfg.tag_field,
    )
    setattr(_MODULE, name, new)
    return new


def _split(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        if part.endswith("[]"):
            out += [part[:-2], "[]"]
        else:
            out.append(part)
    return out


def strict_types(rules: tuple[Rule, ...]) -> tuple[dict[type, str], set[str]]:
    """Build strict event types; returns ``{strict type: stream}`` and the names
    of the rules they enforce (the others stay Python predicates)."""
    compiled: set[str] = set()
    out: dict[type, str] = {}
    for stream, bases in _BASES.items():
        for base in bases:
            tp: type[msgspec.Struct] = base
            for rule in rules:
                spec = rule.spec
                if stream not in rule.streams or "field" not in spec:
                    continue
                meta = constraint(rule, spec)
                if meta is None:
                    continue
                path = _split(str(spec["field"]))
                if not any(f.name == path[0] for f in msgspec.structs.fields(tp)):
                    continue  # a field this version lacks: the predicate would find nothing either
                tp = _constrain(tp, path, meta, f"{rule.name}:{base.__name__}")
                compiled.add(rule.name)
            out[tp] = stream
    return out, compiled
