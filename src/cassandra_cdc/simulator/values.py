"""Random but plausible values for any CQL type, in the Python form schema.types serialises."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import random
import string
import uuid
from typing import Any

from cassandra_cdc.schema.types import (
    CqlType,
    Duration,
    ListType,
    MapType,
    SetType,
    TupleType,
    UserType,
    VectorType,
)

_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def timeuuid(rng: random.Random, micros: int) -> uuid.UUID:
    """A version-1 UUID for ``micros`` since the epoch (as Cassandra's list cell paths are)."""
    ticks = micros * 10 + 0x01B21DD213814000
    return uuid.UUID(
        fields=(
            ticks & 0xFFFFFFFF,
            (ticks >> 32) & 0xFFFF,
            ((ticks >> 48) & 0x0FFF) | 0x1000,
            0x80 | rng.randrange(0x40),
            rng.randrange(0x100),
            rng.randrange(1 << 48),
        )
    )


def random_value(type_: CqlType, rng: random.Random, *, micros: int = 1_700_000_000_000_000) -> Any:
    """A value of ``type_`` (never None at the top level)."""
    name = type_.cql()
    if isinstance(type_, ListType):
        return [random_value(type_.element, rng, micros=micros) for _ in range(rng.randint(1, 3))]
    if isinstance(type_, SetType):
        return _distinct(type_.element, rng, micros)
    if isinstance(type_, MapType):
        return {k: random_value(type_.value, rng, micros=micros) for k in _distinct(type_.key, rng, micros)}
    if isinstance(type_, TupleType):
        return tuple(random_value(t, rng, micros=micros) for t in type_.elements)
    if isinstance(type_, UserType):
        return {
            n: random_value(t, rng, micros=micros) for n, t in zip(type_.field_names, type_.field_types, strict=True)
        }
    if isinstance(type_, VectorType):
        return [random_value(type_.element, rng, micros=micros) for _ in range(type_.dimension)]
    return _native(name, rng, micros)


def _distinct(element: CqlType, rng: random.Random, micros: int) -> list[Any]:
    values: list[Any] = []
    for _ in range(rng.randint(1, 3)):
        value = random_value(element, rng, micros=micros)
        if value not in values:
            values.append(value)
    return values


def _native(name: str, rng: random.Random, micros: int) -> Any:
    if name == "ascii":
        return "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(4, 16)))
    if name in ("text", "varchar"):
        return " ".join(rng.choices(_WORDS, k=rng.randint(1, 4)))
    if name == "blob":
        return rng.randbytes(rng.randint(1, 24))
    if name == "boolean":
        return rng.random() < 0.5
    if name == "tinyint":
        return rng.randint(-128, 127)
    if name == "smallint":
        return rng.randint(-32768, 32767)
    if name == "int":
        return rng.randint(-(2**31), 2**31 - 1)
    if name in ("bigint", "counter"):
        return rng.randint(-(2**63), 2**63 - 1)
    if name == "varint":
        return rng.randint(-(10**30), 10**30)
    if name == "decimal":
        return decimal.Decimal(rng.randint(-(10**12), 10**12)).scaleb(-rng.randint(0, 6))
    if name in ("float", "double"):
        return round(rng.uniform(-1e6, 1e6), 3)
    if name == "uuid":
        return uuid.UUID(int=rng.getrandbits(128), version=4)
    if name == "timeuuid":
        return timeuuid(rng, micros)
    if name == "inet":
        return ipaddress.IPv4Address(rng.getrandbits(32))
    if name == "date":
        return datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randint(0, 3000))
    if name == "time":
        return rng.randrange(86_400_000_000_000)
    if name == "timestamp":
        return _EPOCH + datetime.timedelta(milliseconds=rng.randint(1_500_000_000_000, 1_800_000_000_000))
    if name == "duration":
        return Duration(rng.randint(0, 12), rng.randint(0, 30), rng.randint(0, 10**12))
    raise ValueError(f"no random values for type {name}")
