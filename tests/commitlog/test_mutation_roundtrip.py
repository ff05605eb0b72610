"""Property: decode(encode(m)) == m for generated mutations, and encode(decode(b)) == b.

Generated tables cover every CQL type (tests/strategies.py), composite partition keys, statics,
counters; generated updates cover every tombstone kind (cell, row, shadowable row, complex, range
bound and boundary, partition), TTLs on rows and cells, and messaging versions 10, 12 and 13.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cassandra_cdc.commitlog.counters import make_counter_context, read_counter_shards
from cassandra_cdc.commitlog.model import (
    EMPTY_LIVENESS,
    LIVE,
    NO_DELETION_TIME,
    Cell,
    ClusteringKind,
    DeletionTime,
    LivenessInfo,
    Mutation,
    PartitionUpdate,
    RangeTombstoneMarker,
    Row,
    Unfiltered,
)
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.serialization_header import column_sort_key
from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import ColumnKind, ColumnSchema, Schema, TableSchema
from tests.strategies import cql_types, identifiers, native_types, values_of

VERSIONS = [10, 12, 13]
_TS = st.one_of(
    st.integers(1_400_000_000_000_000, 1_800_000_000_000_000),
    st.integers(-(2**63) + 1, 2**63 - 1),
)
_TTL = st.integers(1, 2**31 - 1) | st.integers(1, 1000)


def _ldt(version: int) -> st.SearchStrategy[int]:
    if version >= 13:
        # Unsigned; 2^31 - 1 is the model's "none" (see model.NO_DELETION_TIME_UNSIGNED).
        return st.integers(0, 2**32 - 2).filter(lambda v: v != NO_DELETION_TIME) | st.integers(
            1_400_000_000, 1_900_000_000
        )
    return st.integers(-(2**31), 2**31 - 2) | st.integers(1_400_000_000, 1_900_000_000)


@st.composite
def tables(draw: st.DrawFn, counter: bool) -> TableSchema:
    n_pk = draw(st.integers(1, 3))
    n_ck = draw(st.integers(0, 3))
    n_static = draw(st.integers(0, 2)) if n_ck and not counter else 0
    n_regular = draw(st.integers(1, 4))
    names = draw(
        st.lists(
            identifiers() | st.sampled_from(["\u00e9t\u00e9", "Z", "a\u00ff"]),
            min_size=n_pk + n_ck + n_static + n_regular,
            max_size=n_pk + n_ck + n_static + n_regular,
            unique=True,
        )
    )
    columns = []
    for i in range(n_pk):
        columns.append(ColumnSchema(names.pop(), draw(native_types()), ColumnKind.PARTITION_KEY, i))
    for i in range(n_ck):
        columns.append(ColumnSchema(names.pop(), draw(cql_types(1, allow_multi_cell=False)), ColumnKind.CLUSTERING, i))
    for _ in range(n_static):
        columns.append(ColumnSchema(names.pop(), draw(cql_types(1)), ColumnKind.STATIC))
    for _ in range(n_regular):
        type_ = T.COUNTER if counter else draw(cql_types(1))
        columns.append(ColumnSchema(names.pop(), type_, ColumnKind.REGULAR))
    return TableSchema("ks", draw(identifiers()), uuid.UUID(int=draw(st.integers(0, 2**128 - 1))), columns)


def _raw(draw: st.DrawFn, type_: T.CqlType) -> bytes:
    return bytes(type_.serialize(draw(values_of(type_, max_size=2))))


@st.composite
def deletions(draw: st.DrawFn, version: int) -> DeletionTime:
    return DeletionTime(draw(_TS), draw(_ldt(version)))


@st.composite
def counter_values(draw: st.DrawFn) -> bytes:
    shards = draw(
        st.lists(
            st.tuples(
                st.uuids(),
                st.integers(-(2**63), 2**63 - 1),
                st.integers(-(2**63), 2**63 - 1),
                st.sampled_from(["global", "local", "remote"]),
            ),
            min_size=1,
            max_size=3,
        )
    )
    return make_counter_context(shards)


@st.composite
def cells_of(draw: st.DrawFn, column: ColumnSchema, liveness: LivenessInfo, version: int) -> list[Cell]:
    type_ = column.type

    def one(path: bytes | None, value_type: T.CqlType | None) -> Cell:
        kind = draw(st.sampled_from(["live", "expiring", "tombstone"]))
        ts = liveness.timestamp if not liveness.is_empty() and draw(st.booleans()) else draw(_TS)
        if kind == "tombstone":
            return Cell(column.name, ts, b"", local_deletion_time=draw(_ldt(version)), path=path)
        if type_.is_counter:
            value = draw(counter_values())
        elif value_type is None:
            value = b""  # a set element: the path is the value
        else:
            value = _raw(draw, value_type)
        if kind == "live":
            return Cell(column.name, ts, value, path=path)
        if liveness.is_expiring() and draw(st.booleans()):
            return Cell(column.name, ts, value, liveness.ttl, liveness.local_expiration_time, path)
        return Cell(column.name, ts, value, draw(_TTL), draw(_ldt(version)), path)

    if not type_.is_multi_cell:
        return [one(None, type_)]
    path_type = type_.cell_path_type()
    paths = draw(st.lists(st.builds(lambda: None).map(lambda _: _raw(draw, path_type)), max_size=3))
    if isinstance(type_, T.UserType):
        paths = [i.to_bytes(2, "big") for i in sorted(draw(st.sets(st.integers(0, len(type_.field_names) - 1))))]
    cells = []
    for path in dict.fromkeys(paths):
        value_type = None if isinstance(type_, T.SetType) else type_.cell_value_type(path)
        cells.append(one(path, value_type))
    return cells


@st.composite
def rows(draw: st.DrawFn, table: TableSchema, version: int, static: bool) -> Row:
    columns = table.static if static else table.regular
    liveness = EMPTY_LIVENESS
    choice = draw(st.sampled_from(["none", "timestamp", "ttl"]))
    if choice == "timestamp":
        liveness = LivenessInfo(draw(_TS))
    elif choice == "ttl":
        liveness = LivenessInfo(draw(_TS), draw(_TTL), draw(_ldt(version)))
    deletion = draw(st.just(LIVE) | deletions(version))
    shadowable = not deletion.is_live() and draw(st.booleans())
    cells: list[Cell] = []
    complex_deletions: dict[str, DeletionTime] = {}
    chosen = draw(st.lists(st.sampled_from(columns), unique_by=lambda c: c.name)) if columns else []
    # Cells come in Cassandra's column order (as a Row iterates them).
    chosen.sort(key=lambda c: column_sort_key(c.name, c.type.is_multi_cell))
    for column in chosen:
        cells.extend(draw(cells_of(column, liveness, version)))
        if column.type.is_multi_cell and draw(st.booleans()):
            complex_deletions[column.name] = draw(deletions(version))
    clustering: tuple[bytes | None, ...] = ()
    if not static:
        clustering = tuple(draw(st.just(b"") | st.just(None) | st.just(_raw(draw, c.type))) for c in table.clustering)
    return Row(clustering, liveness, deletion, shadowable, cells, complex_deletions, static)


@st.composite
def markers(draw: st.DrawFn, table: TableSchema, version: int) -> RangeTombstoneMarker:
    kind = draw(st.sampled_from([k for k in ClusteringKind if k not in (3, 4)]))
    size = draw(st.integers(0, len(table.clustering)))
    clustering = tuple(_raw(draw, c.type) for c in table.clustering[:size])
    end = draw(deletions(version)) if kind.is_boundary() else None
    return RangeTombstoneMarker(kind, clustering, draw(deletions(version)), end)


def _key(draw: st.DrawFn, table: TableSchema) -> bytes:
    parts = [_raw(draw, c.type) for c in table.partition_key]
    return parts[0] if len(parts) == 1 else T.join_composite_key(parts)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Schema, Mutation, int]:
    version = draw(st.sampled_from(VERSIONS))
    schema = Schema()
    chosen = draw(st.lists(st.booleans(), min_size=1, max_size=2))
    tables_: list[TableSchema] = []
    for counter in chosen:
        table = draw(tables(counter))
        if table.id not in schema.tables:
            schema.add(table)
            tables_.append(table)
    updates = []
    for table in tables_:
        unfiltereds: list[Unfiltered] = draw(
            st.lists(rows(table, version, False) | markers(table, version), max_size=4)
        )
        static_row: Row | None = None
        if len(table.static) > 0 and draw(st.booleans()):
            static_row = draw(rows(table, version, True))
        partition_deletion = draw(st.just(LIVE) | deletions(version))
        updates.append(PartitionUpdate(table.id, _key(draw, table), partition_deletion, static_row, unfiltereds))
    return schema, Mutation(updates), version


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_decode_of_encode_is_identity(case: tuple[Schema, Mutation, int]) -> None:
    schema, mutation, version = case
    data = MutationEncoder(schema).encode(mutation, version)
    result = MutationDecoder(schema).decode(data, version)
    assert result.complete, result.error
    assert [u.without_encoding() for u in result.updates] == mutation.updates
    # And the decoded form (which keeps the wire header) encodes back to the same bytes.
    assert MutationEncoder(schema).encode(Mutation(result.decoded), version) == data


@given(counter_values())
def test_counter_context_shards_round_trip(context: bytes) -> None:
    shards = read_counter_shards(context)
    rebuilt = make_counter_context([(s.counter_id, s.clock, s.count, s.kind) for s in shards])
    assert rebuilt == context


def test_counter_context_by_hand() -> None:
    # Header: 2 elements, index 0 global (0 + Short.MIN_VALUE = 0x8000), index 1 local (0x0001);
    # shard 2 is remote. Body: id, clock, count per shard.
    ids = [uuid.UUID(int=i + 1) for i in range(3)]
    raw = b"\x00\x02\x80\x00\x00\x01" + b"".join(
        i.bytes + (10 + n).to_bytes(8, "big") + (n + 1).to_bytes(8, "big") for n, i in enumerate(ids)
    )
    shards = read_counter_shards(raw)
    assert [(s.counter_id, s.clock, s.count, s.kind) for s in shards] == [
        (ids[0], 10, 1, "global"),
        (ids[1], 11, 2, "local"),
        (ids[2], 12, 3, "remote"),
    ]
    from cassandra_cdc.commitlog.counters import counter_total

    assert counter_total(raw) == 6
