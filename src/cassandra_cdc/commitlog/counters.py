"""Counter cells' values: db/context/CounterContext contexts, split into shards.

A context is a header (a signed short element count, then that many short indexes into the body)
followed by a body of 32-byte shards: counter id (16 bytes), logical clock (long), count (long).
A header index ``i >= 0`` marks body shard ``i`` as local; ``i + Short.MIN_VALUE`` (always negative)
marks it global; shards the header does not name are remote. A negative element count means the
local shards are to be cleared; its absolute value is the number of header elements.
Since 3.0 the commit log holds counter updates already turned into contexts by CounterMutation.
"""

from __future__ import annotations

import struct
import uuid

from cassandra_cdc.changes.model import CounterShard

_SHARD = struct.Struct(">16sqq")
_SHORT = struct.Struct(">h")
_SHARD_LENGTH = 32
_SHORT_MIN = -(2**15)


class CounterContextError(ValueError):
    """Bytes that are not a well-formed counter context."""


def read_counter_shards(context: bytes) -> tuple[CounterShard, ...]:
    """Split a counter context into its shards, in body order.

    Follows CounterContext.headerLength and ContextState's global/local/remote classification.
    """
    if len(context) < 2:
        raise CounterContextError(f"counter context of {len(context)} bytes has no header")
    count = abs(_SHORT.unpack_from(context, 0)[0])
    header_end = 2 + 2 * count
    if header_end > len(context):
        raise CounterContextError(f"counter context header names {count} shards but the value has {len(context)} bytes")
    body = len(context) - header_end
    if body % _SHARD_LENGTH:
        raise CounterContextError(f"counter context body of {body} bytes is not a whole number of 32-byte shards")
    marks = {_SHORT.unpack_from(context, 2 + 2 * i)[0] for i in range(count)}
    shards = []
    for index, offset in enumerate(range(header_end, len(context), _SHARD_LENGTH)):
        raw_id, clock, value = _SHARD.unpack_from(context, offset)
        if index + _SHORT_MIN in marks:
            kind = "global"
        elif index in marks:
            kind = "local"
        else:
            kind = "remote"
        shards.append(CounterShard(uuid.UUID(bytes=raw_id), clock, value, kind))
    return tuple(shards)


def counter_total(context: bytes) -> int:
    """The counter's value: the sum of its shards' counts, wrapped to a Java long (CounterContext.total)."""
    total = sum(shard.count for shard in read_counter_shards(context)) & 0xFFFFFFFFFFFFFFFF
    return total - (1 << 64) if total >= 1 << 63 else total


def make_counter_context(shards: list[tuple[uuid.UUID, int, int, str]]) -> bytes:
    """Build a context from (counter id, clock, count, kind) shards in body order (for tests and tools)."""
    header = [i + _SHORT_MIN if kind == "global" else i for i, (_, _, _, kind) in enumerate(shards) if kind != "remote"]
    out = bytearray(_SHORT.pack(len(header)))
    for mark in header:
        out += _SHORT.pack(mark)
    for counter_id, clock, count, _ in shards:
        out += _SHARD.pack(counter_id.bytes, clock, count)
    return bytes(out)
