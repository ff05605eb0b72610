"""Order keys and ranks: unsigned byte order must be Cassandra's order (checked against the oracle's
comparators, which follow db/marshal), plus hand-worked byte vectors."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cassandra_cdc.oracle.ordering import comparator
from cassandra_cdc.schema import types as T
from cassandra_cdc.sinks.base import ConflictRules
from cassandra_cdc.sinks.postgres.merge import cell_rank
from cassandra_cdc.sinks.postgres.pgtypes import order_key_function

from ..strategies import values_of

ORDERED = [T.TEXT, T.BLOB, T.BOOLEAN, T.TINYINT, T.INT, T.BIGINT, T.VARINT, T.DECIMAL, T.FLOAT, T.DOUBLE]
ORDERED += [T.UUID, T.TIMEUUID, T.INET, T.DATE, T.TIME, T.TIMESTAMP]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(ORDERED).flatmap(
        lambda t: st.tuples(st.just(t), values_of(t, allow_nan=True), values_of(t, allow_nan=True))
    )
)
def test_order_key_is_cassandras_order(case: tuple[T.CqlType, Any, Any]) -> None:
    t, a, b = case
    key = order_key_function(t)
    assert key is not None
    ka, kb = key(a), key(b)
    assert _sign((ka > kb) - (ka < kb)) == _sign(comparator(t)(a, b)), (t, a, b, ka, kb)


def test_order_key_vectors() -> None:
    tu = order_key_function(T.TIMEUUID)
    assert tu is not None
    # time_low 0x00000001, time_mid 0x0002, time_hi_and_version 0x1003 -> timestamp 0x003_0002_00000001
    # (version bits kept, as TimeUUIDType does), biased by 2**63; then the low 8 bytes with the sign bit flipped.
    u = uuid.UUID("00000001-0002-1003-8405-060708090a0b")
    assert tu(u) == bytes.fromhex("9003000200000001") + bytes.fromhex("0485868788898a8b")
    fl = order_key_function(T.FLOAT)
    assert fl is not None
    assert fl(-0.0) == bytes.fromhex("7fffffff") and fl(0.0) == bytes.fromhex("80000000")
    assert fl(1.0) == bytes.fromhex("bf800000")  # 0x3f800000 with the sign bit set
    vi = order_key_function(T.VARINT)
    assert vi is not None
    assert vi(256) == b"\x01\x00\x00\x00\x02\x01\x00" and vi(-1) == b"\x00\xff\xff\xff\xfe\xff"


def test_cell_ranks_follow_each_rule_set() -> None:
    plain = dict(deleted=False, expiring=False, ldt=None)
    r4 = lambda ts, raw, **kw: cell_rank(ConflictRules.CASSANDRA_4, ts, raw=raw, **{**plain, **kw})  # noqa: E731
    r3 = lambda ts, raw, **kw: cell_rank(ConflictRules.CASSANDRA_3, ts, raw=raw, **{**plain, **kw})  # noqa: E731
    # Higher timestamp wins whatever the value; negative timestamps order below positive ones.
    assert r4(2, b"\x00") > r4(1, b"\xff") and r3(2, b"\x00") > r3(1, b"\xff") and r4(1, b"") > r4(-1, b"")
    # 4.0+: unsigned values; 3.x: signed (0x7f > 0x80), and a longer value after its prefix.
    assert r4(1, b"\x80") > r4(1, b"\x7f") and r3(1, b"\x7f") > r3(1, b"\x80") and r3(1, b"ab") > r3(1, b"a")
    # 4.0+: tombstone > expiring > plain at equal timestamps, whatever the values.
    tomb = r4(1, b"", deleted=True)
    exp = r4(1, b"\x00", expiring=True, ldt=5)
    assert tomb > exp > r4(1, b"\xff") and r4(1, b"\x00", expiring=True, ldt=6) > exp
    # 3.x: a tombstone beats any value; between values the greater wins before the expiry time.
    assert r3(1, b"", deleted=True) > r3(1, b"\xff") and r3(1, b"\x02", expiring=True, ldt=5) > r3(1, b"\x01")
    # Two tombstones at one timestamp: the later local deletion time wins under both rule sets.
    assert (
        r4(1, b"", deleted=True, ldt=200) > r4(1, b"", deleted=True, ldt=100) > r4(1, b"\xff", expiring=True, ldt=300)
    )
    assert r3(1, b"", deleted=True, ldt=200) > r3(1, b"", deleted=True, ldt=100) > r3(1, b"\xff")
