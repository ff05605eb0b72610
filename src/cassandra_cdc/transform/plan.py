"""Compiled masking plans: for one column, which rule masks which part of its value.

A selector names a column and, optionally, a part of its type: ``home.street`` (a UDT field),
``location.0`` (a tuple component), ``prefs.keys`` / ``prefs.values`` (a map's keys or values).
Lists, sets and vectors are transparent: ``addresses.street`` reaches the field of every element.
A rule or classification set on a node applies to every scalar below it unless a more specific
selector overrides it. Plans are immutable, so a Masker can swap them while other threads mask.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cassandra_cdc.schema.types import (
    CqlType,
    ListType,
    MapType,
    SetType,
    TupleType,
    UserType,
    VectorType,
)
from cassandra_cdc.transform.rules import MaskingError, NoRule, Rule, RuleError, type_label

CLASSIFICATIONS = ("pii", "phi", "none")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One configured selector: the rule and classification it sets (None: inherit)."""

    selector: str
    column: str
    steps: tuple[str, ...]
    rule: Rule | None
    classification: str | None


@dataclass(frozen=True, slots=True)
class Node:
    """How one node of a column's type is masked.

    ``kind``: "leaf", "seq" (list/set/vector: child 0), "map" (children "keys", "values"),
    "tuple" (children by index), "udt" (children by field name). A missing child is untouched.
    """

    type: CqlType
    kind: str
    rule: Rule | None = None
    classification: str | None = None
    selector: str = ""
    key_position: bool = False
    children: Mapping[Any, Node] = field(default_factory=dict)

    @property
    def classified(self) -> bool:
        return self.classification in ("pii", "phi")


def _kind(type_: CqlType) -> str:
    if isinstance(type_, ListType | SetType | VectorType):
        return "seq"
    if isinstance(type_, MapType):
        return "map"
    if isinstance(type_, TupleType):
        return "tuple"
    if isinstance(type_, UserType):
        return "udt"
    return "leaf"


@dataclass(frozen=True, slots=True)
class _Inherited:
    rule: Rule | None
    classification: str | None
    selector: str


def _children(type_: CqlType, specs: Sequence[tuple[tuple[str, ...], FieldSpec]], where: str) -> dict[Any, Any]:
    """Child types and the specs that continue into each (steps consumed where the type names them)."""
    out: dict[Any, tuple[CqlType, list[tuple[tuple[str, ...], FieldSpec]]]] = {}
    if isinstance(type_, ListType | SetType | VectorType):
        out[0] = (type_.element, list(specs))
        return out
    if isinstance(type_, MapType):
        out["keys"] = (type_.key, [])
        out["values"] = (type_.value, [])
        names = {"keys", "values"}
    elif isinstance(type_, TupleType):
        for i, element in enumerate(type_.elements):
            out[str(i)] = (element, [])
        names = set(out)
    elif isinstance(type_, UserType):
        for name, ftype in zip(type_.field_names, type_.field_types, strict=True):
            out[name] = (ftype, [])
        names = set(out)
    else:
        for steps, spec in specs:
            raise RuleError(f"{where}: selector {spec.selector!r}: {type_label(type_)} has no part {steps[0]!r}")
        return out
    for steps, spec in specs:
        if steps[0] not in names:
            expected = "keys or values" if isinstance(type_, MapType) else ", ".join(sorted(names))
            raise RuleError(
                f"{where}: selector {spec.selector!r}: {type_label(type_)} has no part {steps[0]!r}"
                f" (expected {expected})"
            )
        out[steps[0]][1].append((steps[1:], spec))
    return out


def build_node(
    type_: CqlType,
    specs: Sequence[tuple[tuple[str, ...], FieldSpec]],
    inherited: _Inherited,
    key_position: bool,
    where: str,
) -> Node | None:
    """The plan for a value of ``type_`` (None if nothing in it is masked or classified)."""
    here = [spec for steps, spec in specs if not steps]
    if len(here) > 1:
        raise RuleError(f"{where}: selectors {[s.selector for s in here]} name the same part twice")
    if here:
        spec = here[0]
        inherited = _Inherited(
            spec.rule if spec.rule is not None else inherited.rule,
            spec.classification if spec.classification is not None else inherited.classification,
            spec.selector,
        )
    below = [(steps, spec) for steps, spec in specs if steps]
    kind = _kind(type_)
    if kind == "leaf":
        if below:
            _children(type_, below, where)  # raises: a scalar has no parts
        return _leaf(type_, inherited, key_position, where)
    children: dict[Any, Node] = {}
    for name, (child_type, child_specs) in _children(type_, below, where).items():
        child_key = key_position or (
            type_.is_multi_cell and (isinstance(type_, SetType) or (isinstance(type_, MapType) and name == "keys"))
        )
        node = build_node(child_type, child_specs, inherited, child_key, where)
        if node is not None:
            children[int(name) if kind == "tuple" else name] = node
    if not children:
        return None
    return Node(type_, kind, inherited.rule, inherited.classification, inherited.selector, key_position, dict(children))


def _leaf(type_: CqlType, inherited: _Inherited, key_position: bool, where: str) -> Node | None:
    rule, classification = inherited.rule, inherited.classification
    classified = classification in ("pii", "phi")
    if classified and (rule is None or isinstance(rule, NoRule)):
        raise RuleError(
            f"{where}: selector {inherited.selector!r} is classified {classification} but has no masking rule "
            "(name one, or passthrough if the value is already encrypted)"
        )
    if rule is None or (isinstance(rule, NoRule) and not classified):
        return None
    problem = rule.check(type_, key_position)
    if problem is not None:
        position = " (a key position)" if key_position else ""
        raise RuleError(f"{where}{position}: selector {inherited.selector!r} on {type_label(type_)}: {problem}")
    return Node(type_, "leaf", rule, classification, inherited.selector, key_position)


def build_column_node(type_: CqlType, specs: Sequence[FieldSpec], *, key_position: bool, where: str) -> Node | None:
    return build_node(type_, [(s.steps, s) for s in specs], _Inherited(None, None, ""), key_position, where)


# ---------------------------------------------------------------------------------------------------
# Applying a plan to Python values (schema.types' value forms).


def mask_value(node: Node | None, value: Any) -> Any:
    if node is None or value is None:
        return value
    kind = node.kind
    if kind == "leaf":
        assert node.rule is not None
        return node.rule.apply(node.type, value)
    if kind == "seq":
        element = node.children.get(0)
        if not isinstance(value, list | tuple):
            raise MaskingError(f"value is not a {type_label(node.type)}")
        masked = [mask_value(element, v) for v in value]
        if isinstance(node.type, SetType):
            masked = _dedupe(masked)
        return masked
    if kind == "map":
        keys, values = node.children.get("keys"), node.children.get("values")
        if isinstance(value, Mapping):
            pairs = [(mask_value(keys, k), mask_value(values, v)) for k, v in value.items()]
            try:
                return dict(pairs)
            except TypeError:
                return pairs
        if isinstance(value, list | tuple):
            return [(mask_value(keys, k), mask_value(values, v)) for k, v in value]
        raise MaskingError(f"value is not a {type_label(node.type)}")
    if kind == "tuple":
        if not isinstance(value, tuple | list):
            raise MaskingError(f"value is not a {type_label(node.type)}")
        return tuple(mask_value(node.children.get(i), v) for i, v in enumerate(value))
    if not isinstance(value, Mapping):
        raise MaskingError(f"value is not a {type_label(node.type)}")
    return {name: mask_value(node.children.get(name), v) for name, v in value.items()}


def _dedupe(values: list[Any]) -> list[Any]:
    """A masked set keeps one copy of elements that a many-to-one rule made equal (first wins)."""
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def leaves(node: Node | None, value: Any) -> Iterator[tuple[Node, Any]]:
    """Every (leaf plan, scalar value) of ``value`` that a plan masks or classifies."""
    if node is None or value is None:
        return
    if node.kind == "leaf":
        yield node, value
        return
    if node.kind == "seq" and isinstance(value, list | tuple):
        for v in value:
            yield from leaves(node.children.get(0), v)
    elif node.kind == "map":
        pairs = value.items() if isinstance(value, Mapping) else value
        for k, v in pairs:
            yield from leaves(node.children.get("keys"), k)
            yield from leaves(node.children.get("values"), v)
    elif node.kind == "tuple" and isinstance(value, tuple | list):
        for i, v in enumerate(value):
            yield from leaves(node.children.get(i), v)
    elif node.kind == "udt" and isinstance(value, Mapping):
        for name, v in value.items():
            yield from leaves(node.children.get(name), v)


def any_classified(node: Node | None) -> bool:
    if node is None:
        return False
    if node.kind == "leaf":
        return node.classified
    return any(any_classified(child) for child in node.children.values())


def key_fingerprints(node: Node | None, prefix: str = "") -> dict[str, str]:
    """Rule fingerprints of every key-position leaf (reloads must not change them)."""
    if node is None:
        return {}
    if node.kind == "leaf":
        if node.key_position and node.rule is not None:
            return {prefix: node.rule.fingerprint()}
        return {}
    out: dict[str, str] = {}
    for name, child in node.children.items():
        out.update(key_fingerprints(child, f"{prefix}.{name}" if prefix else str(name)))
    return out
