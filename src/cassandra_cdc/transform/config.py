"""The ``masking`` configuration section: secrets, keys and per-table field rules.

Shape (YAML or the equivalent dict)::

    masking:
      pepper: "secret:masking_pepper"      # literal, or "secret:NAME" looked up in the secrets given
      keys: {v1: "secret:tok_v1", v2: "secret:tok_v2"}
      active_key: v2                        # hmac rules without key_version use it
      tables:
        shop.users:
          user_id: {classification: pii, rule: hmac, key_version: v1}   # key column: pinned key
          email: {classification: pii, rule: partial, keep: email_domain}
          phone: {classification: pii, rule: partial, keep: last_digits, digits: 4}
          home.street: {classification: pii, rule: redact}
          avatar: redact                    # shorthand: rule only, unclassified

Errors (MaskingConfigError) name the table and selector, never a secret or a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cassandra_cdc.transform.plan import CLASSIFICATIONS, FieldSpec
from cassandra_cdc.transform.rules import (
    REDACTED_TEXT,
    RULE_NAMES,
    HashRule,
    HmacRule,
    NoRule,
    PartialRule,
    PassthroughRule,
    RedactRule,
    Rule,
)

MIN_SECRET_BYTES = 16
SECRET_PREFIX = "secret:"
_FIELD_OPTIONS = {"rule", "classification", "key_version", "keep", "digits", "mask", "replacement"}
_SECTION_OPTIONS = {"pepper", "pepper_id", "keys", "active_key", "active", "tables"}


class MaskingConfigError(ValueError):
    """The masking section is invalid: the message names the table and column."""


@dataclass(frozen=True, slots=True)
class MaskingConfig:
    """The validated section (rules not yet checked against a schema)."""

    tables: dict[tuple[str, str], list[FieldSpec]] = field(default_factory=dict)
    active_key: str | None = None
    key_ids: tuple[str, ...] = ()


def _secret(value: Any, what: str, secrets: Mapping[str, str | bytes] | None) -> bytes:
    if isinstance(value, str) and value.startswith(SECRET_PREFIX):
        name = value[len(SECRET_PREFIX) :]
        if secrets is None or name not in secrets:
            raise MaskingConfigError(f"masking: {what} refers to secret {name!r}, which was not provided")
        value = secrets[name]
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        raise MaskingConfigError(f"masking: {what} must be a string or bytes")
    if len(value) < MIN_SECRET_BYTES:
        raise MaskingConfigError(f"masking: {what} is shorter than {MIN_SECRET_BYTES} bytes")
    return bytes(value)


def _table_name(name: Any) -> tuple[str, str]:
    if not isinstance(name, str) or name.count(".") != 1 or not all(name.split(".")):
        raise MaskingConfigError(f"masking: table {name!r} must be written keyspace.table")
    keyspace, table = name.split(".")
    return keyspace, table


def parse_masking_config(
    section: Mapping[str, Any] | None, secrets: Mapping[str, str | bytes] | None = None
) -> MaskingConfig:
    """Validate the section's shape, resolve secrets and build every rule."""
    if not section:
        return MaskingConfig()
    if not isinstance(section, Mapping):
        raise MaskingConfigError("masking: the section must be a mapping")
    unknown = set(section) - _SECTION_OPTIONS
    if unknown:
        raise MaskingConfigError(f"masking: unknown options {sorted(unknown)}")
    pepper = _secret(section["pepper"], "pepper", secrets) if section.get("pepper") is not None else None
    pepper_id = str(section.get("pepper_id", "p1"))
    keys_section = section.get("keys") or {}
    if not isinstance(keys_section, Mapping):
        raise MaskingConfigError("masking: keys must map key ids to secrets")
    keys: dict[str, bytes] = {}
    for kid, value in keys_section.items():
        if not isinstance(kid, str) or not kid.isalnum():
            raise MaskingConfigError(f"masking: key id {kid!r} must be letters and digits (it is part of tokens)")
        keys[kid] = _secret(value, f"key {kid}", secrets)
    active = section.get("active_key", section.get("active"))
    if active is None and len(keys) == 1:
        active = next(iter(keys))
    if active is not None and active not in keys:
        raise MaskingConfigError(f"masking: active key {active!r} is not among the keys {sorted(keys)}")
    tables_section = section.get("tables") or {}
    if not isinstance(tables_section, Mapping):
        raise MaskingConfigError("masking: tables must map keyspace.table to field rules")
    tables: dict[tuple[str, str], list[FieldSpec]] = {}
    for table_name, fields in tables_section.items():
        qualified = _table_name(table_name)
        if not isinstance(fields, Mapping):
            raise MaskingConfigError(f"masking: {table_name}: fields must map selectors to rules")
        specs = []
        for selector, options in fields.items():
            where = f"masking: {table_name}: {selector}"
            specs.append(_field_spec(str(selector), options, where, pepper, pepper_id, keys, active))
        tables[qualified] = specs
    return MaskingConfig(tables, active, tuple(keys))


def _field_spec(
    selector: str,
    options: Any,
    where: str,
    pepper: bytes | None,
    pepper_id: str,
    keys: Mapping[str, bytes],
    active: str | None,
) -> FieldSpec:
    if isinstance(options, str):
        options = {"rule": options}
    if not isinstance(options, Mapping):
        raise MaskingConfigError(f"{where}: expected a rule name or a mapping of options")
    unknown = set(options) - _FIELD_OPTIONS
    if unknown:
        raise MaskingConfigError(f"{where}: unknown options {sorted(unknown)}")
    steps = tuple(selector.split("."))
    if not all(steps):
        raise MaskingConfigError(f"{where}: empty part in selector")
    classification = options.get("classification")
    if classification is not None and classification not in CLASSIFICATIONS:
        raise MaskingConfigError(f"{where}: classification must be one of {list(CLASSIFICATIONS)}")
    rule_name = options.get("rule")
    rule = None
    if rule_name is not None:
        rule = _rule(str(rule_name), options, where, pepper, pepper_id, keys, active)
    elif classification is None:
        raise MaskingConfigError(f"{where}: names neither a rule nor a classification")
    return FieldSpec(selector, steps[0], steps[1:], rule, classification)


def _rule(
    name: str,
    options: Mapping[str, Any],
    where: str,
    pepper: bytes | None,
    pepper_id: str,
    keys: Mapping[str, bytes],
    active: str | None,
) -> Rule:
    if name not in RULE_NAMES:
        raise MaskingConfigError(f"{where}: unknown rule {name!r} (known: {', '.join(RULE_NAMES)})")
    allowed = {
        "hash": set(),
        "hmac": {"key_version"},
        "redact": {"replacement"},
        "partial": {"keep", "digits", "mask"},
        "passthrough": set(),
        "none": set(),
    }[name] | {"rule", "classification"}
    extra = set(options) - allowed
    if extra:
        raise MaskingConfigError(f"{where}: options {sorted(extra)} do not apply to rule {name}")
    if name == "hash":
        if pepper is None:
            raise MaskingConfigError(f"{where}: rule hash needs masking.pepper")
        return HashRule("hash", pepper, pepper_id)
    if name == "hmac":
        pinned = options.get("key_version")
        kid = pinned if pinned is not None else active
        if kid is None:
            raise MaskingConfigError(f"{where}: rule hmac needs masking.keys and an active_key (or key_version)")
        if kid not in keys:
            raise MaskingConfigError(f"{where}: key_version {kid!r} is not among the keys {sorted(keys)}")
        return HmacRule("hmac", keys[kid], str(kid), pinned is not None)
    if name == "redact":
        replacement = options.get("replacement", REDACTED_TEXT)
        if not isinstance(replacement, str):
            raise MaskingConfigError(f"{where}: replacement must be a string")
        return RedactRule("redact", replacement)
    if name == "partial":
        keep = options.get("keep", "email_domain")
        if keep not in ("email_domain", "last_digits"):
            raise MaskingConfigError(f"{where}: keep must be email_domain or last_digits")
        digits = options.get("digits", 4)
        if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 8:
            raise MaskingConfigError(f"{where}: digits must be an integer from 1 to 8")
        mask = options.get("mask", "***")
        if not isinstance(mask, str):
            raise MaskingConfigError(f"{where}: mask must be a string")
        return PartialRule("partial", keep, digits, mask)
    if name == "passthrough":
        return PassthroughRule("passthrough")
    return NoRule("none")
