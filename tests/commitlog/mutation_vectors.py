"""Mutation byte vectors worked out by hand from Cassandra's serializers, with the model they mean.

Table ks.t: pk text (partition key), ck int (clustering), s int static, v1 int, v2 text,
m map<text, int>, n set<int>. Each vector's comment walks through the Java that writes it:
MutationSerializer (uvint update count), PartitionUpdateSerializer (16-byte table id),
UnfilteredRowIteratorSerializer (vint-length key, flags, header, ...), EncodingStats.Serializer
(deltas from the 2015-09-22 epochs), Columns.Serializer, UnfilteredSerializer, Cell.Serializer.

Epochs: TIMESTAMP_EPOCH = 1442880000000000 us, DELETION_TIME_EPOCH = 1442880000 s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from cassandra_cdc.commitlog.model import (
    NO_DELETION_TIME,
    Cell,
    ClusteringKind,
    DeletionTime,
    LivenessInfo,
    Mutation,
    PartitionUpdate,
    RangeTombstoneMarker,
    Row,
)
from cassandra_cdc.schema.model import ColumnKind, ColumnSchema, Schema, TableSchema
from cassandra_cdc.schema.types import parse_cql_type

TABLE_ID = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
TID = TABLE_ID.bytes
TS_EPOCH = 1442880000000000
LDT_EPOCH = 1442880000
T = TS_EPOCH + 10
L = LDT_EPOCH + 100
INT1 = b"\x00\x00\x00\x01"
INT5 = b"\x00\x00\x00\x05"
INT7 = b"\x00\x00\x00\x07"


def table() -> TableSchema:
    cols = [
        ColumnSchema("pk", parse_cql_type("text"), ColumnKind.PARTITION_KEY, 0),
        ColumnSchema("ck", parse_cql_type("int"), ColumnKind.CLUSTERING, 0),
        ColumnSchema("s", parse_cql_type("int"), ColumnKind.STATIC),
        ColumnSchema("v1", parse_cql_type("int"), ColumnKind.REGULAR),
        ColumnSchema("v2", parse_cql_type("text"), ColumnKind.REGULAR),
        ColumnSchema("m", parse_cql_type("map<text, int>"), ColumnKind.REGULAR),
        ColumnSchema("n", parse_cql_type("set<int>"), ColumnKind.REGULAR),
    ]
    return TableSchema("ks", "t", TABLE_ID, cols)


def schema() -> Schema:
    s = Schema()
    s.add(table())
    return s


@dataclass(frozen=True)
class Vector:
    name: str
    messaging_version: int
    data: bytes
    mutation: Mutation


def _update(**kwargs: object) -> PartitionUpdate:
    return PartitionUpdate(TABLE_ID, b"k", **kwargs)  # type: ignore[arg-type]


# INSERT INTO t (pk, ck, v1, v2) VALUES ('k', 1, 7, 'ab') USING TIMESTAMP TS_EPOCH + 5.
SMALL = Vector(
    "one row, liveness and two cells",
    12,
    b"\x01"  # one update
    + TID
    + b"\x01k"  # key: vint length 1, "k"
    + b"\x10"  # flags: HAS_ROW_ESTIMATE only
    + b"\x05\x00\x00"  # stats: min timestamp epoch+5, min ldt = epoch (none), min ttl 0
    + b"\x02\x02v1\x02v2"  # regular columns: 2 names, simple ones by name
    + b"\x01"  # row estimate: 1 row
    + b"\x24"  # row flags: HAS_TIMESTAMP | HAS_ALL_COLUMNS
    + b"\x00"  # clustering header: no null/empty values
    + INT1  # ck = 1, int is fixed-length: no length prefix
    + b"\x00"  # liveness timestamp: delta 0 from the minimum
    + b"\x08"
    + INT7  # v1: USE_ROW_TIMESTAMP, fixed-length value
    + b"\x08\x02ab"  # v2: USE_ROW_TIMESTAMP, vint length 2, "ab"
    + b"\x01",  # END_OF_PARTITION
    Mutation(
        [
            _update(
                unfiltereds=[
                    Row(
                        (INT1,),
                        LivenessInfo(TS_EPOCH + 5),
                        cells=[Cell("v1", TS_EPOCH + 5, INT7), Cell("v2", TS_EPOCH + 5, b"ab")],
                    )
                ]
            )
        ]
    ),
)

# DELETE FROM t USING TIMESTAMP T WHERE pk = 'k' AND ck >= 1 AND ck < 5, local deletion time L.
RANGE = Vector(
    "range tombstone bound pair",
    12,
    b"\x01"
    + TID
    + b"\x01k"
    + b"\x10"  # HAS_ROW_ESTIMATE
    + b"\x0a\x64\x00"  # stats: min timestamp epoch+10, min ldt epoch+100, min ttl 0
    + b"\x00"  # no regular columns
    + b"\x00"  # row estimate 0
    + b"\x02\x01\x00\x01\x00"
    + INT1
    + b"\x00\x00"  # IS_MARKER, INCL_START_BOUND, 1 value, header, ck=1, deletion
    + b"\x02\x00\x00\x01\x00"
    + INT5
    + b"\x00\x00"  # IS_MARKER, EXCL_END_BOUND, 1 value, header, ck=5, deletion
    + b"\x01",
    Mutation(
        [
            _update(
                unfiltereds=[
                    RangeTombstoneMarker(ClusteringKind.INCL_START_BOUND, (INT1,), DeletionTime(T, L)),
                    RangeTombstoneMarker(ClusteringKind.EXCL_END_BOUND, (INT5,), DeletionTime(T, L)),
                ]
            )
        ]
    ),
)

# DELETE FROM t USING TIMESTAMP T WHERE pk = 'k'.
PARTITION_DELETION = Vector(
    "partition deletion",
    11,
    b"\x01"
    + TID
    + b"\x01k"
    + b"\x14"  # HAS_PARTITION_DELETION | HAS_ROW_ESTIMATE
    + b"\x0a\x64\x00"
    + b"\x00"  # no regular columns
    + b"\x00\x00"  # partition deletion: timestamp and ldt deltas 0
    + b"\x00"  # row estimate 0
    + b"\x01",
    Mutation([_update(partition_deletion=DeletionTime(T, L))]),
)

# UPDATE t USING TIMESTAMP T SET m = {'x': 1} WHERE pk = 'k' AND ck = 1: the collection is first
# deleted at T - 1 (complex deletion), then the element is written at T. No primary key liveness.
COMPLEX_DELETION = Vector(
    "complex deletion and a collection cell",
    10,
    b"\x01"
    + TID
    + b"\x01k"
    + b"\x10"
    + b"\x09\x64\x00"  # stats: min timestamp epoch+9 (the complex deletion), min ldt epoch+100
    + b"\x01\x01m"  # one regular column, m
    + b"\x01"  # row estimate
    + b"\x60"  # row flags: HAS_COMPLEX_DELETION | HAS_ALL_COLUMNS
    + b"\x00"
    + INT1
    + b"\x00\x00"  # m's complex deletion: deltas 0
    + b"\x01"  # one cell
    + b"\x00"  # cell flags: none (no row timestamp to reuse)
    + b"\x01"  # timestamp delta 1
    + b"\x01x"  # path: vint length 1, "x"
    + b"\x04"
    + INT1  # value 1: written with the column's type (the map: not fixed-length), so a length
    + b"\x01",
    Mutation(
        [
            _update(
                unfiltereds=[
                    Row(
                        (INT1,),
                        cells=[Cell("m", T, INT1, path=b"x")],
                        complex_deletions={"m": DeletionTime(T - 1, L)},
                    )
                ]
            )
        ]
    ),
)

E = LDT_EPOCH + 1000  # expiry time
# UPDATE t USING TIMESTAMP T AND TTL 60 SET v1 = 7 WHERE pk = 'k' AND ck = 1: an expiring cell.
EXPIRING_CELL = Vector(
    "expiring cell without row liveness",
    12,
    b"\x01"
    + TID
    + b"\x01k"
    + b"\x10"
    + b"\x0a\x83\xe8\x3c"  # stats: ts epoch+10, ldt epoch+1000 (2-byte vint 0x83 0xe8), ttl 60
    + b"\x01\x02v1"
    + b"\x01"
    + b"\x20"  # HAS_ALL_COLUMNS
    + b"\x00"
    + INT1
    + b"\x02"  # cell flags: IS_EXPIRING
    + b"\x00\x00\x00"  # timestamp, local deletion time, ttl: all deltas 0
    + INT7
    + b"\x01",
    Mutation([_update(unfiltereds=[Row((INT1,), cells=[Cell("v1", T, INT7, 60, E)])])]),
)

# INSERT INTO t (pk, ck, v1) VALUES ('k', 1, 7) USING TIMESTAMP T AND TTL 60: the cell reuses the
# row's timestamp and TTL.
EXPIRING_ROW = Vector(
    "expiring row liveness shared by its cell",
    12,
    b"\x01"
    + TID
    + b"\x01k"
    + b"\x10"
    + b"\x0a\x83\xe8\x3c"
    + b"\x01\x02v1"
    + b"\x01"
    + b"\x2c"  # HAS_TIMESTAMP | HAS_TTL | HAS_ALL_COLUMNS
    + b"\x00"
    + INT1
    + b"\x00\x00\x00"  # liveness: timestamp, ttl, then expiration time (deltas 0)
    + b"\x1a"  # cell flags: IS_EXPIRING | USE_ROW_TIMESTAMP | USE_ROW_TTL
    + INT7
    + b"\x01",
    Mutation([_update(unfiltereds=[Row((INT1,), LivenessInfo(T, 60, E), cells=[Cell("v1", T, INT7, 60, E)])])]),
)

# Cassandra 5.0 (messaging 13, CASSANDRA-14227): a partition deleted with a local deletion time
# past 2038, 2^31 + 5. The collector's minimum is that time; EncodingStats writes
# (int)(2147483653 - 1442880000) = 704603653 = 0x29ff6605, a 5-byte vint (0xf0 then 4 bytes).
# The deletion's own deltas are then 0. Read as messaging 12, the same bytes give Java's
# overflowed int, -2147483643.
LATE = 2**31 + 5
DELETION_50 = Vector(
    "5.0 unsigned local deletion time",
    13,
    b"\x01" + TID + b"\x01k" + b"\x14" + b"\x0a\xf0\x29\xff\x66\x05\x00" + b"\x00" + b"\x00\x00" + b"\x00" + b"\x01",
    Mutation([_update(partition_deletion=DeletionTime(T, LATE))]),
)


def _live_complex_deletion(messaging_version: int) -> bytes:
    """UPDATE ... SET m = {'x': 1}, n = n + {5}: only m has a complex deletion, so n writes
    DeletionTime.LIVE: timestamp Long.MIN_VALUE - min (a 9-byte vint) and, as local deletion
    time, (int)(Integer.MAX_VALUE - min) before 5.0 but (int)(Long.MAX_VALUE - min) in 5.0."""
    min_ts = T - 1
    ts_delta = (-(2**63) - min_ts) % 2**64  # 2^63 - min_ts: 63 bits, so 0xff and 8 bytes
    ts_bytes = b"\xff" + ts_delta.to_bytes(8, "big")
    if messaging_version >= 13:
        ldt_delta = ((2**63 - 1 - L) % 2**32) - 2**32  # a negative Java int, sign-extended
        ldt_bytes = b"\xff" + (ldt_delta % 2**64).to_bytes(8, "big")
    else:
        ldt_delta = 2**31 - 1 - L  # 704603547 = 0x29ff659b: 5-byte vint
        ldt_bytes = b"\xf0" + ldt_delta.to_bytes(4, "big")
    return (
        b"\x01" + TID + b"\x01k"
        + b"\x10"
        + b"\x09\x64\x00"
        + b"\x02\x01m\x01n"  # two complex columns, by name
        + b"\x01"
        + b"\x60"
        + b"\x00" + INT1
        + b"\x00\x00"  # m: its complex deletion (deltas 0)
        + b"\x01"  # m: one cell
        + b"\x00\x01\x01x\x04" + INT1  # flags, ts delta 1, path "x", value 1 with its length
        + ts_bytes + ldt_bytes  # n: LIVE complex deletion
        + b"\x01"  # n: one cell
        + b"\x04\x01\x04" + INT5  # HAS_EMPTY_VALUE, ts delta 1, path: 4-byte element 5, no value
        + b"\x01"
    )  # fmt: skip


def _live_complex_mutation() -> Mutation:
    return Mutation(
        [
            _update(
                unfiltereds=[
                    Row(
                        (INT1,),
                        cells=[Cell("m", T, INT1, path=b"x"), Cell("n", T, b"", path=INT5)],
                        complex_deletions={"m": DeletionTime(T - 1, L)},
                    )
                ]
            )
        ]
    )


LIVE_COMPLEX_12 = Vector("LIVE complex deletion, 4.0", 12, _live_complex_deletion(12), _live_complex_mutation())
LIVE_COMPLEX_13 = Vector("LIVE complex deletion, 5.0", 13, _live_complex_deletion(13), _live_complex_mutation())

# A tombstone cell: DELETE v2 FROM t USING TIMESTAMP T WHERE pk = 'k' AND ck = 1, plus a static
# cell s = 7 at T (static row: flags with EXTENSION_FLAG, then IS_STATIC, and no clustering).
TOMBSTONE_AND_STATIC = Vector(
    "cell tombstone and static row",
    12,
    b"\x01"
    + TID
    + b"\x01k"
    + b"\x18"  # HAS_STATIC_ROW | HAS_ROW_ESTIMATE
    + b"\x0a\x64\x00"
    + b"\x01\x01s"  # static columns: s
    + b"\x01\x02v2"  # regular columns: v2
    + b"\xa0\x01"  # static row: EXTENSION_FLAG | HAS_ALL_COLUMNS, extended IS_STATIC
    + b"\x00\x00"
    + INT7  # s: flags 0, ts delta 0, value
    + b"\x01"  # row estimate
    + b"\x20\x00"
    + INT1
    + b"\x05\x00\x00"  # v2: IS_DELETED | HAS_EMPTY_VALUE, ts delta 0, ldt delta 0
    + b"\x01",
    Mutation(
        [
            _update(
                static_row=Row((), cells=[Cell("s", T, INT7)], is_static=True),
                unfiltereds=[Row((INT1,), cells=[Cell("v2", T, b"", local_deletion_time=L)])],
            )
        ]
    ),
)

VECTORS = [
    SMALL,
    RANGE,
    PARTITION_DELETION,
    COMPLEX_DELETION,
    EXPIRING_CELL,
    EXPIRING_ROW,
    DELETION_50,
    LIVE_COMPLEX_12,
    LIVE_COMPLEX_13,
    TOMBSTONE_AND_STATIC,
]

__all__ = ["NO_DELETION_TIME", "VECTORS", "Vector", "schema", "table"]
