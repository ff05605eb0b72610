"""Counter cells: merging counter contexts shard by shard, and the counter's value.

Follows db/context/CounterContext.merge and its private compare(ContextState, ContextState), and
Conflicts.resolveCounter / Cells.resolveCounter for tombstones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from cassandra_cdc.changes.model import CounterShard
from cassandra_cdc.oracle.conflicts import CellVersion

_MASK64 = (1 << 64) - 1


def _remote_key(shard: CounterShard) -> tuple[int, int, int]:
    """CounterContext.compare for two remote shards, as a sort key.

    Positive clocks: the higher clock wins. Negative clocks (pre-2.1 deletion marks) beat positive
    ones, the more negative the stronger. Equal clocks: the higher count. Java's rule is not
    antisymmetric when a clock is 0; this key treats 0 as the lowest non-negative clock.
    """
    if shard.clock < 0:
        return (1, -shard.clock, shard.count)
    return (0, shard.clock, shard.count)


def merge_shards(shards: Iterable[CounterShard]) -> dict[uuid.UUID, CounterShard]:
    """The merged context: one shard per counter id.

    For one id: a global shard beats local and remote ones (the highest clock, then the highest count,
    among globals); else local shards are summed (clock and count; legacy pre-2.1 shards); else the
    strongest remote shard. Callers pass the shards of each distinct cell version once, so re-delivering
    a change does not add its local shards twice.
    """
    by_id: dict[uuid.UUID, list[CounterShard]] = {}
    for shard in shards:
        by_id.setdefault(shard.counter_id, []).append(shard)
    merged: dict[uuid.UUID, CounterShard] = {}
    for counter_id, group in by_id.items():
        globals_ = [s for s in group if s.kind == "global"]
        locals_ = [s for s in group if s.kind == "local"]
        if globals_:
            merged[counter_id] = max(globals_, key=lambda s: (s.clock, s.count))
        elif locals_:
            merged[counter_id] = CounterShard(
                counter_id, sum(s.clock for s in locals_), sum(s.count for s in locals_), "local"
            )
        else:
            merged[counter_id] = max(group, key=_remote_key)
    return merged


def counter_total(shards: Iterable[CounterShard]) -> int:
    """CounterContext.total: the sum of the counts, wrapped to a Java long."""
    total = sum(s.count for s in shards) & _MASK64
    return total - (1 << 64) if total >= 1 << 63 else total


def merge_counter(versions: Iterable[CellVersion]) -> tuple[int, int] | None:
    """The value and timestamp of a counter cell, or None when it is deleted or absent.

    ``versions`` are the versions that no deletion shadows. A counter tombstone wins over every
    counter value whatever the timestamps (CASSANDRA-7346); live versions merge their contexts and
    take the highest timestamp.
    """
    live = []
    for version in versions:
        if version.deleted:
            return None
        live.append(version)
    if not live:
        return None
    # Versions are distinct facts (the oracle keeps them in a set), so duplicates are already gone.
    merged = merge_shards(s for v in live for s in v.counter_shards or ())
    return counter_total(merged.values()), max(v.timestamp for v in live)
