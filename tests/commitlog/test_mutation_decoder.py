"""The decoder against hand-worked byte vectors (tests/commitlog/mutation_vectors.py) and bad input."""

from __future__ import annotations

import uuid

import pytest

from cassandra_cdc.commitlog.model import DeletionTime, EncodingStats, PartitionEncoding
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder, decode_mutation
from cassandra_cdc.schema.model import Schema
from tests.commitlog import mutation_vectors as mv


@pytest.mark.parametrize("vector", mv.VECTORS, ids=lambda v: v.name)
def test_vector_decodes_to_its_model(vector: mv.Vector) -> None:
    result = decode_mutation(vector.data, vector.messaging_version, mv.schema())
    assert result.error is None
    assert result.complete
    assert result.update_count == 1
    assert [u.without_encoding() for u in result.updates] == vector.mutation.updates
    assert result.decoded == result.updates
    assert result.skipped == [] and result.signals == []


def test_decoded_update_keeps_wire_header() -> None:
    result = decode_mutation(mv.SMALL.data, 12, mv.schema())
    assert result.updates[0].encoding == PartitionEncoding(
        EncodingStats(mv.TS_EPOCH + 5, mv.LDT_EPOCH, 0), (), ("v1", "v2"), 1, False
    )


def test_late_deletion_time_is_unsigned_only_from_messaging_13() -> None:
    five = decode_mutation(mv.DELETION_50.data, 13, mv.schema())
    assert five.updates[0].partition_deletion == DeletionTime(mv.T, 2**31 + 5)
    four = decode_mutation(mv.DELETION_50.data, 12, mv.schema())
    assert four.updates[0].partition_deletion == DeletionTime(mv.T, 2**31 + 5 - 2**32)


def test_live_complex_deletion_is_not_kept() -> None:
    for vector in (mv.LIVE_COMPLEX_12, mv.LIVE_COMPLEX_13):
        row = decode_mutation(vector.data, vector.messaging_version, mv.schema()).updates[0].rows[0]
        assert set(row.complex_deletions) == {"m"}


def _two_updates(first: uuid.UUID, second: uuid.UUID) -> bytes:
    body = mv.PARTITION_DELETION.data[1 + 16 :]
    return b"\x02" + first.bytes + body + second.bytes + body


def test_unknown_table_after_known_one_keeps_the_first() -> None:
    other = uuid.UUID(int=7)
    result = decode_mutation(_two_updates(mv.TABLE_ID, other), 12, mv.schema())
    assert len(result.updates) == 1
    assert result.error is not None and result.error.kind == "unknown_table"
    assert result.error.table_id == other
    assert result.error.offset == 1 + 16 + len(mv.PARTITION_DELETION.data) - 17
    assert result.error.update_index == 1
    assert str(other) in str(result.error)
    assert result.undecoded == 1


def test_uncaptured_table_is_skipped_but_walked() -> None:
    schema = mv.schema()
    other = mv.table()
    other.name, other.id = "other", uuid.UUID(int=7)
    schema.add(other)
    decoder = MutationDecoder(schema, capture=lambda t: t.name == "t")
    result = decoder.decode(_two_updates(other.id, mv.TABLE_ID), 12)
    assert result.complete
    assert result.skipped == [other.id]
    assert [u.table_id for u in result.updates] == [mv.TABLE_ID]
    assert [u.table_id for u in result.decoded] == [other.id, mv.TABLE_ID]


def test_system_table_is_a_signal_even_without_its_schema() -> None:
    from cassandra_cdc.schema.system_tables import system_table_id

    tables_id = system_table_id("system_schema", "tables")
    result = decode_mutation(_two_updates(mv.TABLE_ID, tables_id), 12, mv.schema())
    assert result.error is None
    assert [(s.kind, s.table_id, s.update) for s in result.signals] == [("schema_change", tables_id, None)]
    assert len(result.updates) == 1
    local_id = system_table_id("system", "local")
    result = decode_mutation(_two_updates(local_id, mv.TABLE_ID), 12, mv.schema())
    # A system.local update without truncated_at in its header is node metadata, not a TRUNCATE.
    assert [s.kind for s in result.signals] == ["system"]
    assert result.undecoded == 1 and not result.complete and result.error is None


def test_unknown_column_names_table_and_column() -> None:
    data = mv.SMALL.data.replace(b"\x02v2", b"\x02zz")
    result = decode_mutation(data, 12, mv.schema())
    assert result.error is not None and result.error.kind == "unknown_column"
    assert "ks.t" in str(result.error) and "'zz'" in str(result.error)


def test_dropped_column_decodes_with_its_dropped_type() -> None:
    from cassandra_cdc.schema.model import DroppedColumn
    from cassandra_cdc.schema.types import parse_cql_type

    table = mv.table()
    table.columns = [c for c in table.columns if c.name != "v2"]
    table.dropped_columns["v2"] = DroppedColumn("v2", parse_cql_type("text"), mv.T + 100)
    schema = Schema()
    schema.add(table)
    result = decode_mutation(mv.SMALL.data, 12, schema)
    assert result.complete
    assert [c.column for c in result.updates[0].rows[0].cells] == ["v1", "v2"]


@pytest.mark.parametrize("vector", mv.VECTORS, ids=lambda v: v.name)
def test_every_truncation_is_a_clear_error(vector: mv.Vector) -> None:
    for cut in range(len(vector.data)):
        result = decode_mutation(vector.data[:cut], vector.messaging_version, mv.schema())
        assert result.error is not None, cut
        assert result.error.kind == "corrupt"
        assert not result.updates


def test_trailing_bytes_are_reported() -> None:
    result = decode_mutation(mv.SMALL.data + b"\x00", 12, mv.schema())
    assert len(result.updates) == 1
    assert result.error is not None and result.error.kind == "trailing_bytes"


def test_garbage_never_raises() -> None:
    import random

    rng = random.Random(7)
    decoder = MutationDecoder(mv.schema())
    for vector in mv.VECTORS:
        for _ in range(200):
            data = bytearray(vector.data)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(17, len(data))
                data[i] = rng.randrange(256)
            decoder.decode(bytes(data), vector.messaging_version)  # must not raise


def test_unsupported_version() -> None:
    result = decode_mutation(mv.SMALL.data, 9, mv.schema())
    assert result.error is not None and result.error.kind == "unsupported_version"
