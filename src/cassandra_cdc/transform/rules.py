"""Leaf masking rules: what one scalar value of one CQL type becomes.

Every rule returns a value of the *same* CQL type as its input, so the destination column created
from the Cassandra schema still accepts it (the table is in docs/masking.md):

- ``hash``: HMAC-SHA256 keyed with the pepper over the value's serialised bytes. Text becomes
  ``hash_<64 hex>``, blob ``b"hash_" + digest``; fixed-width integers go through a keyed
  permutation of the same width (one-to-one, so usable in primary keys); other types are derived
  from the digest inside ranges every sink accepts.
- ``hmac``: the same construction keyed with a versioned token key; text becomes
  ``tok_<key id>_<64 hex>`` so a reader can tell which key made it (rotation).
- ``redact``: a constant of the type ("REDACTED" for text).
- ``partial``: text only: keep an e-mail's domain or a phone number's last digits.
- ``passthrough``: the value unchanged (already encrypted upstream).

Error messages here name types and rules, never the value being masked.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import hmac
import ipaddress
import re
import uuid
from dataclasses import dataclass
from typing import Any

from cassandra_cdc.schema.types import (
    ASCII,
    BIGINT,
    BLOB,
    BOOLEAN,
    DATE,
    DECIMAL,
    DOUBLE,
    DURATION,
    EMPTY,
    FLOAT,
    INET,
    INT,
    SMALLINT,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMEUUID,
    TINYINT,
    UUID,
    VARINT,
    CqlType,
    CustomType,
    Duration,
)

RULE_NAMES = ("hash", "hmac", "redact", "partial", "passthrough", "none")

# Integer types masked by a keyed permutation of their own width (bits).
_INTEGER_BITS: dict[CqlType, int] = {TINYINT: 8, SMALLINT: 16, INT: 32, BIGINT: 64}
_TEXT_TYPES = (TEXT, ASCII)
# Types whose hash/hmac output has at least 64 bits of room and is one-to-one or collision-free in
# practice: the only ones accepted where a collision would merge rows (primary keys, set elements,
# map keys of non-frozen collections).
KEY_SAFE_TYPES: frozenset[CqlType] = frozenset(
    {TEXT, ASCII, BLOB, TINYINT, SMALLINT, INT, BIGINT, VARINT, DECIMAL, UUID, TIMEUUID, INET}
)

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_DATE_EPOCH = datetime.date(1970, 1, 1)
# Digest-derived dates and timestamps stay in ranges every destination holds (ClickHouse's Date
# ends at 2149-06-06, i.e. 65535 days after the epoch; 2**42 ms is about 139 years).
_DATE_SPAN_DAYS = 1 << 16
_TIMESTAMP_SPAN_MS = 1 << 42
_NANOS_PER_DAY = 86_400_000_000_000

REDACTED_TEXT = "REDACTED"
_REDACTED: dict[CqlType, Any] = {
    TEXT: REDACTED_TEXT,
    ASCII: REDACTED_TEXT,
    BLOB: b"",
    BOOLEAN: False,
    TINYINT: 0,
    SMALLINT: 0,
    INT: 0,
    BIGINT: 0,
    VARINT: 0,
    DECIMAL: decimal.Decimal(0),
    FLOAT: 0.0,
    DOUBLE: 0.0,
    UUID: uuid.UUID(int=0),
    TIMEUUID: uuid.UUID("00000000-0000-1000-8000-000000000000"),
    INET: ipaddress.IPv4Address(0),
    DATE: _DATE_EPOCH,
    TIME: 0,
    TIMESTAMP: _EPOCH,
    DURATION: Duration(0, 0, 0),
}


class RuleError(ValueError):
    """A rule that cannot apply to a type (raised while the configuration is checked)."""


class MaskingError(ValueError):
    """A value could not be masked. The message names table, column and type, never the value."""


def type_label(type_: CqlType) -> str:
    return type_.cql()


# ---------------------------------------------------------------------------------------------------
# Digest helpers


def keyed_digest(key: bytes, type_: CqlType, value: Any) -> bytes:
    """HMAC-SHA256 of the value's serialised bytes (text and ascii give the same token)."""
    try:
        data = type_.serialize(value)
    except (TypeError, ValueError):
        raise MaskingError(f"value is not a valid {type_label(type_)}") from None
    return hmac.digest(key, data, hashlib.sha256)


def feistel_permute(key: bytes, bits: int, value: int) -> int:
    """A keyed permutation of the unsigned integers below 2**bits (bits even): a balanced Feistel
    network whose round function is HMAC-SHA256. One-to-one by construction, so distinct keys stay
    distinct; the key holder could invert it (with few bits any hash could be brute-forced anyway)."""
    half = bits // 2
    mask = (1 << half) - 1
    left, right = value >> half, value & mask
    width = (half + 7) // 8
    for round_no in range(8):
        msg = bytes((bits, round_no)) + right.to_bytes(width, "big")
        f = int.from_bytes(hmac.digest(key, msg, hashlib.sha256)[:8], "big") & mask
        left, right = right, left ^ f
    return (left << half) | right


def _permute_signed(key: bytes, bits: int, value: int) -> int:
    offset = 1 << (bits - 1)
    return feistel_permute(key, bits, value + offset) - offset


def _uuid_with_version(digest: bytes, version: int) -> uuid.UUID:
    n = int.from_bytes(digest[:16], "big")
    n &= ~(0xF << 76)
    n |= version << 76
    n &= ~(0xC000 << 48)
    n |= 0x8000 << 48  # RFC 4122 variant
    return uuid.UUID(int=n)


def derive_from_digest(type_: CqlType, digest: bytes, text_prefix: str) -> Any:
    """The value of ``type_`` that a digest stands for (non-integer types)."""
    if type_ in _TEXT_TYPES:
        return text_prefix + digest.hex()
    if type_ is BLOB:
        return text_prefix.encode("ascii") + digest
    if isinstance(type_, CustomType):
        if 0 <= type_.fixed_length <= len(digest):
            return digest[: type_.fixed_length]
        return text_prefix.encode("ascii") + digest
    n = int.from_bytes(digest[:8], "big")
    if type_ is VARINT:
        return int.from_bytes(digest[:16], "big", signed=True)
    if type_ is DECIMAL:
        return decimal.Decimal(int.from_bytes(digest[:8], "big", signed=True))
    if type_ is FLOAT:
        return float(n & ((1 << 24) - 1))  # integers below 2**24 are exact binary32 values
    if type_ is DOUBLE:
        return float(n & ((1 << 53) - 1))
    if type_ is UUID:
        return _uuid_with_version(digest, 8)  # RFC 9562 "custom" version: never a real v1/v4
    if type_ is TIMEUUID:
        return _uuid_with_version(digest, 1)
    if type_ is INET:
        return ipaddress.IPv6Address(b"\xfd" + digest[:15])  # unique-local range: never routable
    if type_ is DATE:
        return _DATE_EPOCH + datetime.timedelta(days=n % _DATE_SPAN_DAYS)
    if type_ is TIMESTAMP:
        return _EPOCH + datetime.timedelta(milliseconds=n % _TIMESTAMP_SPAN_MS)
    if type_ is TIME:
        return n % _NANOS_PER_DAY
    if type_ is DURATION:
        # Whole microseconds: destinations with microsecond intervals hold it exactly.
        return Duration(0, 0, (n % (1 << 40)) * 1000)
    raise MaskingError(f"no digest mapping for {type_label(type_)}")


# ---------------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule as configured. ``apply`` masks one scalar of ``type_``."""

    name: str

    @property
    def one_to_one(self) -> bool:
        """Distinct inputs always give distinct outputs, and the same input always the same output."""
        return False

    @property
    def identity(self) -> bool:
        return False

    def check(self, type_: CqlType, key_position: bool) -> str | None:
        """Why this rule cannot mask ``type_`` (at a key position if ``key_position``), or None."""
        if type_.is_counter:
            return "counter columns can only be passed through (a counter is a sum of shards)"
        if type_ is EMPTY:
            return None
        if key_position:
            return (
                f"rule {self.name} would merge distinct rows or orphan later updates and deletes; "
                "key positions accept only hash, hmac with a pinned key_version, or passthrough"
            )
        return None

    def apply(self, type_: CqlType, value: Any) -> Any:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """What must not change across reloads for a key position (no secret material)."""
        return self.name


def _check_digest_type(rule: str, type_: CqlType, key_position: bool) -> str | None:
    if type_ is BOOLEAN:
        return f"{rule} cannot mask a boolean meaningfully: use redact"
    if key_position and type_ not in KEY_SAFE_TYPES and not isinstance(type_, CustomType):
        return (
            f"{rule} of a {type_label(type_)} key has too few output bits to stay one-to-one; "
            f"key positions accept {', '.join(sorted(t.cql() for t in KEY_SAFE_TYPES))}"
        )
    return None


@dataclass(frozen=True, slots=True)
class HashRule(Rule):
    pepper: bytes = b""
    pepper_id: str = ""
    prefix: str = "hash_"

    @property
    def one_to_one(self) -> bool:
        return True

    def check(self, type_: CqlType, key_position: bool) -> str | None:
        if type_.is_counter:
            return Rule.check(self, type_, key_position)
        return _check_digest_type("hash", type_, key_position)

    def apply(self, type_: CqlType, value: Any) -> Any:
        if value is None or type_ is EMPTY:
            return value
        bits = _INTEGER_BITS.get(type_)
        if bits is not None:
            _require_int(type_, value)
            return _permute_signed(self.pepper, bits, value)
        return derive_from_digest(type_, keyed_digest(self.pepper, type_, value), self.prefix)

    def fingerprint(self) -> str:
        return f"hash:{self.pepper_id}:{self.prefix}"


@dataclass(frozen=True, slots=True)
class HmacRule(Rule):
    key: bytes = b""
    key_id: str = ""
    pinned: bool = False

    @property
    def one_to_one(self) -> bool:
        # Without a pinned key the same value gets another token after a rotation.
        return self.pinned

    def check(self, type_: CqlType, key_position: bool) -> str | None:
        if type_.is_counter:
            return Rule.check(self, type_, key_position)
        if key_position and not self.pinned:
            return (
                "hmac at a key position needs a pinned key_version: after a key rotation the same key would "
                "get a new token, orphaning the rows and elements written before"
            )
        return _check_digest_type("hmac", type_, key_position)

    def apply(self, type_: CqlType, value: Any) -> Any:
        if value is None or type_ is EMPTY:
            return value
        bits = _INTEGER_BITS.get(type_)
        if bits is not None:
            _require_int(type_, value)
            return _permute_signed(self.key, bits, value)
        return derive_from_digest(type_, keyed_digest(self.key, type_, value), f"tok_{self.key_id}_")

    def fingerprint(self) -> str:
        return f"hmac:{self.key_id}:{hashlib.sha256(b'kid' + self.key).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class RedactRule(Rule):
    replacement: str = REDACTED_TEXT

    def check(self, type_: CqlType, key_position: bool) -> str | None:
        problem = Rule.check(self, type_, key_position)
        if problem is None and type_ not in _REDACTED and not isinstance(type_, CustomType) and type_ is not EMPTY:
            return f"redact has no constant for {type_label(type_)}"
        if problem is None and type_ is ASCII and not self.replacement.isascii():
            return "the redact replacement of an ascii column must be ASCII"
        return problem

    def apply(self, type_: CqlType, value: Any) -> Any:
        if value is None or type_ is EMPTY:
            return value
        if type_ in _TEXT_TYPES:
            return self.replacement
        if isinstance(type_, CustomType):
            return bytes(max(type_.fixed_length, 0))
        return _REDACTED[type_]


_DIGITS = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class PartialRule(Rule):
    keep: str = "email_domain"  # or "last_digits"
    digits: int = 4
    mask: str = "***"

    def check(self, type_: CqlType, key_position: bool) -> str | None:
        problem = Rule.check(self, type_, key_position)
        if problem is None and type_ not in _TEXT_TYPES:
            return f"partial applies to text and ascii only, not {type_label(type_)}"
        if problem is None and type_ is ASCII and not self.mask.isascii():
            return "the partial mask of an ascii column must be ASCII"
        return problem

    def apply(self, type_: CqlType, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise MaskingError(f"partial expects a string for {type_label(type_)}")
        if self.keep == "email_domain":
            local, at, domain = value.rpartition("@")
            if not at or not local or not domain:
                return self.mask
            return f"{self.mask}@{domain}"
        found = _DIGITS.findall(value)
        # Too few digits and the kept tail would be most of the number: mask everything.
        if len(found) < 2 * self.digits:
            return self.mask
        return self.mask + "".join(found[-self.digits :])


@dataclass(frozen=True, slots=True)
class PassthroughRule(Rule):
    @property
    def one_to_one(self) -> bool:
        return True

    @property
    def identity(self) -> bool:
        return True

    def check(self, type_: CqlType, key_position: bool) -> str | None:
        return None

    def apply(self, type_: CqlType, value: Any) -> Any:
        return value


@dataclass(frozen=True, slots=True)
class NoRule(Rule):
    """``none``: explicitly not masked (exempts a part of a masked column)."""

    @property
    def one_to_one(self) -> bool:
        return True

    @property
    def identity(self) -> bool:
        return True

    def check(self, type_: CqlType, key_position: bool) -> str | None:
        return None

    def apply(self, type_: CqlType, value: Any) -> Any:
        return value


def _require_int(type_: CqlType, value: Any) -> None:
    bits = _INTEGER_BITS[type_]
    if not isinstance(value, int) or isinstance(value, bool) or not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise MaskingError(f"value is not a valid {type_label(type_)}")
