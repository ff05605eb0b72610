"""Leaf rules: every output keeps its CQL type; determinism; keys; partial rules."""

from __future__ import annotations

import datetime
import decimal
import hashlib
import hmac
import ipaddress
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cassandra_cdc.schema import types as T
from cassandra_cdc.transform.rules import (
    KEY_SAFE_TYPES,
    HashRule,
    HmacRule,
    MaskingError,
    PartialRule,
    PassthroughRule,
    RedactRule,
    feistel_permute,
)

PEPPER = b"pepper-0123456789abcdef"
HASH = HashRule("hash", PEPPER, "p1")
HMAC_V1 = HmacRule("hmac", b"token-key-v1-0123456789", "v1", pinned=True)
HMAC_V2 = HmacRule("hmac", b"token-key-v2-9876543210", "v2")
REDACT = RedactRule("redact")

# One sample value per native type (as schema.types' Python forms).
SAMPLES: dict[T.CqlType, Any] = {
    T.TEXT: "alice@example.com",
    T.ASCII: "alice",
    T.BLOB: b"\x01\x02secret",
    T.TINYINT: -7,
    T.SMALLINT: 1234,
    T.INT: 123456789,
    T.BIGINT: -(1 << 62),
    T.VARINT: 10**30,
    T.DECIMAL: decimal.Decimal("12.345"),
    T.FLOAT: 1.5,
    T.DOUBLE: 2.25,
    T.UUID: uuid.UUID("5febe790-ca76-4d11-8b42-dbaf27a35832"),
    T.TIMEUUID: uuid.UUID("6b2d1e9f-7cbb-11ee-9858-c9aa1eb53e69"),
    T.INET: ipaddress.IPv4Address("10.1.2.3"),
    T.DATE: datetime.date(1980, 5, 17),
    T.TIME: 3_600_000_000_000,
    T.TIMESTAMP: datetime.datetime(2023, 11, 6, 15, 9, 49, 123000, tzinfo=datetime.UTC),
    T.DURATION: T.Duration(1, 2, 3_000),
}


def _roundtrip(type_: T.CqlType, value: Any) -> Any:
    return type_.deserialize(type_.serialize(value))


@pytest.mark.parametrize("type_", list(SAMPLES), ids=lambda t: t.cql())
@pytest.mark.parametrize("rule", [HASH, HMAC_V1, REDACT], ids=["hash", "hmac", "redact"])
def test_every_rule_keeps_the_columns_type(rule: Any, type_: T.CqlType) -> None:
    raw = SAMPLES[type_]
    masked = rule.apply(type_, raw)
    # The masked value serialises with the column's own type and reads back unchanged.
    assert _roundtrip(type_, masked) == masked
    assert masked != raw
    if type_ is not T.INET:  # inet: an IPv4 address may become IPv6 (same CQL type)
        assert type(masked) is type(raw)


def test_type_table_of_digest_outputs() -> None:
    """The documented mapping (docs/masking.md), checked type by type."""
    digest = hmac.new(PEPPER, b"alice@example.com", hashlib.sha256).hexdigest()
    assert HASH.apply(T.TEXT, "alice@example.com") == "hash_" + digest
    # text and ascii serialise alike: the same token, so joins across tables still work.
    assert HASH.apply(T.ASCII, "alice") == HASH.apply(T.TEXT, "alice")
    assert HASH.apply(T.BLOB, b"x")[:5] == b"hash_" and len(HASH.apply(T.BLOB, b"x")) == 5 + 32
    key_digest = hmac.new(b"token-key-v1-0123456789", b"bob", hashlib.sha256).hexdigest()
    assert HMAC_V1.apply(T.TEXT, "bob") == "tok_v1_" + key_digest
    assert HASH.apply(T.UUID, SAMPLES[T.UUID]).version == 8
    assert HASH.apply(T.TIMEUUID, SAMPLES[T.TIMEUUID]).version == 1
    assert HASH.apply(T.INET, SAMPLES[T.INET]).packed[0] == 0xFD
    masked_date = HASH.apply(T.DATE, SAMPLES[T.DATE])
    assert datetime.date(1970, 1, 1) <= masked_date <= datetime.date(2149, 6, 6)
    masked_ts = HASH.apply(T.TIMESTAMP, SAMPLES[T.TIMESTAMP])
    assert (
        datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
        <= masked_ts
        < datetime.datetime(2110, 1, 1, tzinfo=datetime.UTC)
    )
    assert 0 <= HASH.apply(T.TIME, 5) < 86_400 * 10**9
    assert HASH.apply(T.DURATION, SAMPLES[T.DURATION]).nanoseconds % 1000 == 0
    assert -(2**31) <= HASH.apply(T.INT, 5) < 2**31
    assert -128 <= HASH.apply(T.TINYINT, 5) < 128
    # Masked int serialises to exactly 4 big-endian bytes.
    assert len(T.INT.serialize(HASH.apply(T.INT, 5))) == 4


def test_redact_constants() -> None:
    assert REDACT.apply(T.TEXT, "x") == "REDACTED"
    assert RedactRule("redact", "[gone]").apply(T.TEXT, "x") == "[gone]"
    assert REDACT.apply(T.INT, 17) == 0
    assert REDACT.apply(T.BLOB, b"abc") == b""
    assert REDACT.apply(T.TIMEUUID, SAMPLES[T.TIMEUUID]).version == 1
    assert REDACT.apply(T.TEXT, None) is None


def test_booleans_and_counters_are_refused() -> None:
    assert HASH.check(T.BOOLEAN, False) is not None
    assert HMAC_V1.check(T.BOOLEAN, False) is not None
    assert REDACT.check(T.BOOLEAN, False) is None
    for rule in (HASH, HMAC_V1, REDACT, PartialRule("partial")):
        assert "counter" in (rule.check(T.COUNTER, False) or "")
    assert PassthroughRule("passthrough").check(T.COUNTER, False) is None


def test_key_positions_accept_only_one_to_one_rules() -> None:
    assert HASH.check(T.TEXT, True) is None
    assert HMAC_V1.check(T.UUID, True) is None
    assert "pinned" in (HMAC_V2.check(T.TEXT, True) or "")
    assert REDACT.check(T.TEXT, True) is not None
    assert PartialRule("partial").check(T.TEXT, True) is not None
    assert PassthroughRule("passthrough").check(T.TEXT, True) is None
    # Too few output bits: collisions would merge rows.
    for type_ in (T.DATE, T.TIMESTAMP, T.FLOAT, T.DOUBLE, T.TIME, T.BOOLEAN):
        assert type_ not in KEY_SAFE_TYPES
        assert HASH.check(type_, True) is not None


def test_feistel_is_a_permutation() -> None:
    key = b"k" * 16
    assert sorted(feistel_permute(key, 8, v) for v in range(256)) == list(range(256))
    assert sorted(feistel_permute(key, 12, v) for v in range(1 << 12)) == list(range(1 << 12))
    assert [feistel_permute(key, 8, v) for v in range(8)] != list(range(8))
    assert {HASH.apply(T.TINYINT, v) for v in range(-128, 128)} == set(range(-128, 128))


def test_out_of_range_integers_are_refused_without_the_value() -> None:
    with pytest.raises(MaskingError) as info:
        HASH.apply(T.INT, 1 << 40)
    assert str(1 << 40) not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_hash_and_hmac_are_deterministic_and_one_to_one(a: str, b: str) -> None:
    assert HASH.apply(T.TEXT, a) == HASH.apply(T.TEXT, a)
    assert HMAC_V1.apply(T.TEXT, a) == HMAC_V1.apply(T.TEXT, a)
    assert (HASH.apply(T.TEXT, a) == HASH.apply(T.TEXT, b)) == (a == b)
    # Different keys give different tokens; the key id is in the token.
    assert HMAC_V1.apply(T.TEXT, a) != HMAC_V2.apply(T.TEXT, a)
    assert HMAC_V2.apply(T.TEXT, a).startswith("tok_v2_")
    assert HASH.apply(T.TEXT, a) != HashRule("hash", b"another-pepper-0000000", "p2").apply(T.TEXT, a)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1))
def test_bigint_hash_is_one_to_one(a: int, b: int) -> None:
    assert (HASH.apply(T.BIGINT, a) == HASH.apply(T.BIGINT, b)) == (a == b)
    assert -(2**63) <= HASH.apply(T.BIGINT, a) < 2**63


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("alice@example.com", "***@example.com"),
        ("a.b+c@sub.example.org", "***@sub.example.org"),
        ("weird@name@host.io", "***@host.io"),
        ("no-at-sign", "***"),
        ("@example.com", "***"),
    ],
)
def test_partial_email_keeps_the_domain(raw: str, masked: str) -> None:
    assert PartialRule("partial", "email_domain").apply(T.TEXT, raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+1 (555) 123-4567", "***4567"),
        ("0049 30 1234 5678", "***5678"),
        ("555-12345", "***2345"),
        ("555-1234", "***"),  # too short: the last four would be most of the number
        ("", "***"),
    ],
)
def test_partial_phone_keeps_the_last_four(raw: str, masked: str) -> None:
    assert PartialRule("partial", "last_digits", 4).apply(T.TEXT, raw) == masked


def test_partial_last_two_digits() -> None:
    assert PartialRule("partial", "last_digits", 2, "#").apply(T.TEXT, "12345") == "#45"
