"""The encoder against hand-worked byte vectors, derivation of what Cassandra derives, and misuse."""

from __future__ import annotations

import uuid

import pytest

from cassandra_cdc.commitlog.model import Cell, Mutation, PartitionUpdate, Row
from cassandra_cdc.commitlog.mutation_decoder import decode_mutation
from cassandra_cdc.commitlog.mutation_encoder import MutationEncodeError, MutationEncoder, encode_mutation
from cassandra_cdc.commitlog.serialization_header import column_sort_key
from tests.commitlog import mutation_vectors as mv


@pytest.mark.parametrize("vector", mv.VECTORS, ids=lambda v: v.name)
def test_vector_model_encodes_to_cassandras_bytes(vector: mv.Vector) -> None:
    assert encode_mutation(vector.mutation, vector.messaging_version, mv.schema()) == vector.data


@pytest.mark.parametrize("vector", mv.VECTORS, ids=lambda v: v.name)
def test_decoded_vector_reencodes_exactly(vector: mv.Vector) -> None:
    result = decode_mutation(vector.data, vector.messaging_version, mv.schema())
    assert encode_mutation(Mutation(result.decoded), vector.messaging_version, mv.schema()) == vector.data


def test_kept_header_wins_over_derivation() -> None:
    # A statement's update names every column it touched; a row holding only v1 then writes the
    # column subset bitmap (v2 missing: bit 1) instead of HAS_ALL_COLUMNS.
    result = decode_mutation(mv.SMALL.data, 12, mv.schema())
    update = result.updates[0]
    row = update.rows[0]
    row.cells = row.cells[:1]
    data = encode_mutation(Mutation([update]), 12, mv.schema())
    assert data.endswith(b"\x04\x00" + mv.INT1 + b"\x00\x02\x08" + mv.INT7 + b"\x01")
    assert decode_mutation(data, 12, mv.schema()).updates[0].rows[0].cells == row.cells


def test_column_order_is_cassandras() -> None:
    names = ["b", "a", "\u00e9t\u00e9", "m", "A"]
    complex_ = {"m"}
    ordered = sorted(names, key=lambda n: column_sort_key(n, n in complex_))
    # Simple before complex; names with a non-ASCII first byte before ASCII (flipped top bit).
    assert ordered == ["\u00e9t\u00e9", "A", "a", "b", "m"]


def test_empty_update_is_flagged_empty() -> None:
    update = PartitionUpdate(mv.TABLE_ID, b"k")
    assert encode_mutation(Mutation([update]), 12, mv.schema()) == b"\x01" + mv.TID + b"\x01k\x01"
    assert decode_mutation(b"\x01" + mv.TID + b"\x01k\x01", 12, mv.schema()).updates == [update]


def test_misuse_is_refused_clearly() -> None:
    encoder = MutationEncoder(mv.schema())
    with pytest.raises(MutationEncodeError, match="fixed length 4"):
        encoder.encode(Mutation([PartitionUpdate(mv.TABLE_ID, b"k", unfiltereds=[Row((b"\x01",), cells=[])])]), 12)
    bad_cell = Row((mv.INT1,), cells=[Cell("v1", 1, b"xy")])
    with pytest.raises(MutationEncodeError, match="'v1'"):
        encoder.encode(Mutation([PartitionUpdate(mv.TABLE_ID, b"k", unfiltereds=[bad_cell])]), 12)
    unknown = Row((mv.INT1,), cells=[Cell("nope", 1, b"")])
    with pytest.raises(MutationEncodeError, match="nope"):
        encoder.encode(Mutation([PartitionUpdate(mv.TABLE_ID, b"k", unfiltereds=[unknown])]), 12)
    with pytest.raises(MutationEncodeError, match="no schema"):
        encoder.encode(Mutation([PartitionUpdate(uuid.UUID(int=3), b"k")]), 12)
    with pytest.raises(MutationEncodeError):
        encoder.encode(Mutation([]), 12)
