"""Generated workloads as change events: the simulator's mutations through the real encoder, decoder and
change conversion (shared by the sink, masking and pipeline tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.to_changes import update_changes
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.simulator.workload import WorkloadGenerator

# Cassandra 4.0's messaging version: what the simulated node writes.
MESSAGING_VERSION = 12


def generated_changes(
    schema: Schema,
    count: int,
    *,
    seed: int,
    node: str = "n1",
    tables: Sequence[TableSchema] | None = None,
    first_position: int = 1,
    **generator_options: Any,
) -> list[RowChange]:
    """The changes of ``count`` generated mutations; mutation ``i`` is at segment 1, ``first_position + i``."""
    generator = WorkloadGenerator(list(tables or schema.tables.values()), seed=seed, **generator_options)
    encoder, decoder = MutationEncoder(schema), MutationDecoder(schema)
    out: list[RowChange] = []
    for i, mutation in enumerate(generator.mutations(count)):
        result = decoder.decode(encoder.encode(mutation, MESSAGING_VERSION), MESSAGING_VERSION)
        for update in result.updates:
            table = schema.by_id(update.table_id)
            assert table is not None
            out.extend(update_changes(table, update, SourcePosition(node, 1, first_position + i)))
    return out
