"""CQL types: byte vectors worked out from Cassandra's serializers, parsing, JSON, round trips."""

from __future__ import annotations

import contextlib
import datetime
import decimal
import ipaddress
import json
import math
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cassandra_cdc.schema import types as T
from cassandra_cdc.schema.model import UserTypeDef
from cassandra_cdc.schema.types import (
    CqlDate,
    CqlTimestamp,
    CqlTypeError,
    CqlValueError,
    Duration,
    parse_cql_type,
)
from tests.strategies import cql_types, values_of

UTC = datetime.UTC
ADDRESS = UserTypeDef("shop", "address", ["street", "zip"], [T.TEXT, T.INT])
QUOTED = UserTypeDef("shop", "Point", ["x", "y"], [T.DOUBLE, T.DOUBLE])
USER_TYPES = {("shop", "address"): ADDRESS, ("shop", "Point"): QUOTED}


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- valueLengthIfFixed -------------------------------------------------------------------------------

# From valueLengthIfFixed() overrides in db/marshal of cassandra-3.0, cassandra-3.11 and 5.0 (identical).
FIXED_LENGTHS = {
    "boolean": 1,
    "int": 4,
    "float": 4,
    "bigint": 8,
    "double": 8,
    "timestamp": 8,
    "uuid": 16,
    "timeuuid": 16,
    "tinyint": -1,
    "smallint": -1,
    "date": -1,
    "time": -1,
    "counter": -1,
    "varint": -1,
    "decimal": -1,
    "duration": -1,
    "inet": -1,
    "text": -1,
    "varchar": -1,
    "ascii": -1,
    "blob": -1,
    "list<int>": -1,
    "frozen<list<int>>": -1,
    "set<uuid>": -1,
    "map<int, int>": -1,
    "tuple<int, int>": -1,
    "frozen<address>": -1,
    "vector<float, 3>": 12,
    "vector<bigint, 2>": 16,
    "vector<boolean, 5>": 5,
    "vector<uuid, 1>": 16,
    "vector<text, 3>": -1,
    "vector<smallint, 3>": -1,
    "'org.apache.cassandra.db.marshal.EmptyType'": 0,
    "empty": 0,
    "'org.apache.cassandra.db.marshal.LexicalUUIDType'": 16,
    "'org.apache.cassandra.db.marshal.DateType'": 8,
    "'com.example.Custom'": -1,
}


@pytest.mark.parametrize(("text", "length"), sorted(FIXED_LENGTHS.items()))
def test_value_length_if_fixed(text: str, length: int) -> None:
    assert parse_cql_type(text, USER_TYPES, keyspace="shop").value_length_if_fixed() == length


# --- natives: hand-made vectors -------------------------------------------------------------------------

NATIVE_VECTORS: list[tuple[T.CqlType, str, Any]] = [
    (T.ASCII, "616263", "abc"),
    (T.TEXT, "c3a9 e282ac", "é€"),
    (T.TEXT, "", ""),
    (T.BLOB, "00ff", b"\x00\xff"),
    (T.BLOB, "", b""),
    (T.BOOLEAN, "01", True),
    (T.BOOLEAN, "00", False),
    (T.TINYINT, "ff", -1),
    (T.TINYINT, "7f", 127),
    (T.SMALLINT, "0102", 258),
    (T.SMALLINT, "8000", -32768),
    (T.INT, "00000001", 1),
    (T.INT, "ffffffff", -1),
    (T.BIGINT, "fffffffffffffffe", -2),
    (T.VARINT, "00", 0),
    (T.VARINT, "ff", -1),
    (T.VARINT, "7f", 127),
    (T.VARINT, "0080", 128),
    (T.VARINT, "80", -128),
    (T.VARINT, "ff7f", -129),
    (T.VARINT, "00ff", 255),
    (T.VARINT, "0100", 256),
    (T.DECIMAL, "00000001 0f", decimal.Decimal("1.5")),
    (T.DECIMAL, "00000002 ff", decimal.Decimal("-0.01")),
    (T.DECIMAL, "fffffffe 01", decimal.Decimal("1E+2")),
    (T.DECIMAL, "00000000 00", decimal.Decimal("0")),
    (T.FLOAT, "3f800000", 1.0),
    (T.FLOAT, "c0000000", -2.0),
    (T.DOUBLE, "3ff0000000000000", 1.0),
    (T.DOUBLE, "fff0000000000000", -math.inf),
    (T.UUID, "00112233445566778899aabbccddeeff", uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")),
    (T.TIMEUUID, "00112233445511778899aabbccddeeff", uuid.UUID("00112233-4455-1177-8899-aabbccddeeff")),
    (T.INET, "7f000001", ipaddress.IPv4Address("127.0.0.1")),
    (T.INET, "00000000000000000000000000000001", ipaddress.IPv6Address("::1")),
    (T.DATE, "80000000", datetime.date(1970, 1, 1)),
    (T.DATE, "80000001", datetime.date(1970, 1, 2)),
    (T.DATE, "7fffffff", datetime.date(1969, 12, 31)),
    (T.DATE, "00000000", CqlDate(-(2**31))),
    (T.DATE, "ffffffff", CqlDate(2**31 - 1)),
    (T.TIME, "0000000000000001", 1),
    (T.TIME, "00004e94914effff", 86_399_999_999_999),
    (T.TIMESTAMP, "0000018ba52ecac3", datetime.datetime(2023, 11, 6, 15, 9, 49, 123000, tzinfo=UTC)),
    (T.TIMESTAMP, "ffffffffffffffff", datetime.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    (T.TIMESTAMP, "8000000000000000", CqlTimestamp(-(2**63))),
    # DurationSerializer: zigzag vints. 1 -> 02, 2 -> 04, 3 -> 06; -1 -> 01.
    (T.DURATION, "02 04 06", Duration(1, 2, 3)),
    (T.DURATION, "01 00 00", Duration(-1, 0, 0)),
    # 1 s = 1e9 ns -> zigzag 2e9 = 0x77359400, a 5-byte vint: 0xF0 then 4 bytes.
    (T.DURATION, "00 00 f077359400", Duration(0, 0, 1_000_000_000)),
]


@pytest.mark.parametrize(("t", "hex_bytes", "value"), NATIVE_VECTORS)
def test_native_vectors(t: T.CqlType, hex_bytes: str, value: Any) -> None:
    raw = h(hex_bytes)
    assert t.deserialize(raw) == value
    assert type(t.deserialize(raw)) is type(value)
    assert t.serialize(value) == raw


def test_boolean_nonzero_is_true() -> None:
    assert T.BOOLEAN.deserialize(b"\x02") is True


def test_varint_non_minimal_encoding_reads() -> None:
    assert T.VARINT.deserialize(h("ffff")) == -1
    assert T.VARINT.deserialize(h("000001")) == 1


def test_float_nan_bytes() -> None:
    assert math.isnan(T.FLOAT.deserialize(h("7fc00000")))


def test_decimal_keeps_scale() -> None:
    value = T.DECIMAL.deserialize(h("00000003 05dc"))  # 1500 scale 3
    assert str(value) == "1.500"
    assert T.DECIMAL.serialize(decimal.Decimal("1.500")) == h("00000003 05dc")


def test_empty_bytes_are_none_for_non_string_types() -> None:
    for t in (
        T.BOOLEAN,
        T.TINYINT,
        T.SMALLINT,
        T.INT,
        T.BIGINT,
        T.VARINT,
        T.DECIMAL,
        T.FLOAT,
        T.DOUBLE,
        T.UUID,
        T.TIMEUUID,
        T.INET,
        T.DATE,
        T.TIME,
        T.TIMESTAMP,
        T.DURATION,
        T.COUNTER,
        T.EMPTY,
        parse_cql_type("list<int>"),
        parse_cql_type("tuple<int>"),
    ):
        assert t.deserialize(b"") is None, t
    assert T.TEXT.deserialize(b"") == ""
    assert T.ASCII.deserialize(b"") == ""
    assert T.BLOB.deserialize(b"") == b""


def test_counter_context_total() -> None:
    # Header: 1 entry, global index 0 stored as 0 + Short.MIN_VALUE; one 32-byte shard.
    shard_id = "0102030405060708090a0b0c0d0e0f10"
    raw = h("0001 8000" + shard_id + "0000000000000007" + "000000000000002a")
    assert T.COUNTER.deserialize(raw) == 42
    assert T.counter_shards(raw) == [(uuid.UUID(shard_id), 7, 42)]
    two = h(
        "0000" + shard_id + "0000000000000001" + "0000000000000005" + shard_id + "00" * 7 + "02" + "fffffffffffffffe"
    )
    assert T.COUNTER.deserialize(two) == 3
    assert T.COUNTER.deserialize(T.COUNTER.serialize(-9)) == -9
    assert T.COUNTER.is_counter


# --- collections, tuples, UDTs, vectors ---------------------------------------------------------------

COMPOSITE_VECTORS: list[tuple[str, str, Any]] = [
    ("list<int>", "00000002 00000004 00000001 00000004 00000002", [1, 2]),
    ("frozen<list<int>>", "00000000", []),
    ("set<text>", "00000002 00000001 61 00000002 6263", ["a", "bc"]),
    ("map<text, int>", "00000001 00000001 61 00000004 00000001", {"a": 1}),
    (
        "map<int, boolean>",
        "00000002 00000004 00000001 00000001 01 00000004 00000002 00000001 00",
        {1: True, 2: False},
    ),
    (
        "map<frozen<list<int>>, int>",
        "00000001 0000000c 00000001 00000004 00000007 00000004 00000009",
        [([7], 9)],
    ),
    ("tuple<int, text>", "00000004 00000001 00000002 6869", (1, "hi")),
    ("tuple<int, text>", "00000004 00000001 ffffffff", (1, None)),
    ("frozen<address>", "00000001 78 00000004 00003039", {"street": "x", "zip": 12345}),
    ("frozen<address>", "ffffffff 00000004 00003039", {"street": None, "zip": 12345}),
    ("vector<float, 2>", "3f800000 40000000", [1.0, 2.0]),
    ("vector<text, 2>", "01 61 02 6263", ["a", "bc"]),
    ("list<frozen<set<int>>>", "00000001 0000000c 00000001 00000004 00000003", [[3]]),
]


@pytest.mark.parametrize(("text", "hex_bytes", "value"), COMPOSITE_VECTORS)
def test_composite_vectors(text: str, hex_bytes: str, value: Any) -> None:
    t = parse_cql_type(text, USER_TYPES, keyspace="shop")
    raw = h(hex_bytes)
    assert t.deserialize(raw) == value
    assert t.serialize(value) == raw


def test_list_null_element() -> None:
    assert parse_cql_type("list<int>").deserialize(h("00000002 ffffffff 00000004 00000005")) == [None, 5]


def test_tuple_and_udt_trailing_missing_components() -> None:
    assert parse_cql_type("tuple<int, text>").deserialize(h("00000004 00000001")) == (1, None)
    udt = parse_cql_type("frozen<address>", USER_TYPES, keyspace="shop")
    assert udt.deserialize(h("00000001 78")) == {"street": "x", "zip": None}


def test_map_with_colliding_python_keys_keeps_pairs() -> None:
    t = parse_cql_type("map<float, int>")
    raw = h("00000002 00000004 00000000 00000004 00000001 00000004 80000000 00000004 00000002")
    value = t.deserialize(raw)
    assert isinstance(value, list)
    assert [(math.copysign(1, k), v) for k, v in value] == [(1.0, 1), (-1.0, 2)]
    assert t.serialize(value) == raw


def test_multi_cell_layout() -> None:
    lst = parse_cql_type("list<text>")
    assert lst.is_multi_cell and lst.cell_path_type() == T.TIMEUUID and lst.cell_value_type(b"") == T.TEXT
    st_ = parse_cql_type("set<int>")
    assert st_.cell_path_type() == T.INT and st_.cell_value_type(b"") == T.EMPTY
    assert T.EMPTY.value_length_if_fixed() == 0
    mp = parse_cql_type("map<int, text>")
    assert mp.cell_path_type() == T.INT and mp.cell_value_type(b"") == T.TEXT
    udt = parse_cql_type("address", USER_TYPES, keyspace="shop")
    assert udt.is_multi_cell and udt.cell_path_type() == T.SMALLINT
    assert udt.cell_value_type(h("0000")) == T.TEXT
    assert udt.cell_value_type(h("0001")) == T.INT
    with pytest.raises(CqlValueError, match="field index 2"):
        udt.cell_value_type(h("0002"))
    for frozen in ("frozen<list<text>>", "frozen<address>", "tuple<int>", "vector<int, 2>", "int"):
        t = parse_cql_type(frozen, USER_TYPES, keyspace="shop")
        assert not t.is_multi_cell
        with pytest.raises(TypeError):
            t.cell_path_type()


def test_composite_key_helpers() -> None:
    raw = h("0001 61 00 0002 6263 00")
    assert T.split_composite_key(raw, 2) == [b"a", b"bc"]
    assert T.join_composite_key([b"a", b"bc"]) == raw
    assert T.split_composite_key(h("0000 00"), 1) == [b""]
    with pytest.raises(CqlValueError, match="extra"):
        T.split_composite_key(raw, 1)
    with pytest.raises(CqlValueError, match="truncated"):
        T.split_composite_key(raw[:-2], 2)
    with pytest.raises(CqlValueError, match="end-of-component"):
        T.split_composite_key(h("0001 61 01"), 1)


# --- errors -------------------------------------------------------------------------------------------

ERROR_CASES: list[tuple[str, str, str]] = [
    ("int", "0001", "expected 4"),
    ("bigint", "00", "expected 8"),
    ("tinyint", "0000", "expected 1"),
    ("smallint", "00", "expected 2"),
    ("uuid", "00" * 15, "expected 16"),
    ("timeuuid", "00112233445541778899aabbccddeeff", "version 4"),
    ("inet", "0102030405", "4 or 16"),
    ("text", "ff", "UTF-8"),
    ("ascii", "80", "non-ASCII"),
    ("decimal", "000001", "at least 5"),
    ("date", "000000", "expected 4"),
    ("duration", "02", "truncated"),
    ("duration", "02 04 06 00", "extra"),
    ("duration", "02 01 06", "signs"),
    ("boolean", "0000", "expected 1"),
    ("list<int>", "000000", "at least 4"),
    ("list<int>", "00000001 00000004 0000", "truncated"),
    ("list<int>", "00000001 00000004 00000001 00", "extra"),
    ("list<int>", "7fffffff 00000000", "cannot fit"),
    ("list<int>", "ffffffff", "negative"),
    ("list<int>", "00000001 00000002 0001", "element 0"),
    ("set<int>", "00000001 ffffffff", "null"),
    ("map<int, int>", "00000001 00000004 00000001 ffffffff", "null value"),
    ("tuple<int, int>", "00000004 00000001 00000004 00000002 00", "extra"),
    ("tuple<int>", "000000", "truncated"),
    ("vector<float, 2>", "3f800000", "expected 8"),
    ("vector<text, 2>", "01 61", "truncated"),
    ("vector<text, 1>", "01 61 00", "extra"),
    ("'org.apache.cassandra.db.marshal.EmptyType'", "00", "expected 0"),
    ("counter", "0001 8000 00", "32-byte"),
]


@pytest.mark.parametrize(("text", "hex_bytes", "message"), ERROR_CASES)
def test_deserialize_errors(text: str, hex_bytes: str, message: str) -> None:
    t = parse_cql_type(text)
    with pytest.raises(CqlValueError, match=message) as info:
        t.deserialize(h(hex_bytes))
    assert t.cql() in str(info.value)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(cql_types(max_depth=2), st.binary(max_size=40))
def test_garbage_raises_only_cql_value_error(t: T.CqlType, raw: bytes) -> None:
    with contextlib.suppress(CqlValueError):
        t.deserialize(raw)


def test_serialize_rejects_wrong_python_values() -> None:
    with pytest.raises(TypeError):
        T.INT.serialize("1")
    with pytest.raises(ValueError, match="out of range"):
        T.TINYINT.serialize(128)
    with pytest.raises(TypeError):
        T.BOOLEAN.serialize(1)
    with pytest.raises(ValueError, match="version 1"):
        T.TIMEUUID.serialize(uuid.UUID(int=0))
    with pytest.raises(ValueError, match="elements"):
        parse_cql_type("vector<int, 2>").serialize([1])


# --- parsing and rendering ----------------------------------------------------------------------------

PARSE_CASES = [
    ("int", "int"),
    ("INT", "int"),
    ("VarChar", "text"),
    ("  Text ", "text"),
    ("list<int>", "list<int>"),
    ("frozen<list<int>>", "frozen<list<int>>"),
    ("frozen<map<text, frozen<list<int>>>>", "frozen<map<text, frozen<list<int>>>>"),
    ("frozen<map<text,list<int>>>", "frozen<map<text, frozen<list<int>>>>"),
    ("map<text, list<int>>", "map<text, frozen<list<int>>>"),
    ("set<frozen<tuple<int, text>>>", "set<frozen<tuple<int, text>>>"),
    ("tuple<int, text>", "frozen<tuple<int, text>>"),
    ("frozen<tuple<int,tuple<text>>>", "frozen<tuple<int, frozen<tuple<text>>>>"),
    ("vector<float, 3>", "vector<float, 3>"),
    ("vector<list<int>, 2>", "vector<frozen<list<int>>, 2>"),
    ("address", "address"),
    ("frozen<address>", "frozen<address>"),
    ("shop.address", "address"),
    ('"Point"', '"Point"'),
    ('frozen<shop."Point">', 'frozen<"Point">'),
    ("'org.apache.cassandra.db.marshal.Int32Type'", "int"),
    ("'org.apache.cassandra.db.marshal.ReversedType(org.apache.cassandra.db.marshal.UTF8Type)'", "text"),
    (
        "'org.apache.cassandra.db.marshal.MapType(org.apache.cassandra.db.marshal.UTF8Type,"
        "org.apache.cassandra.db.marshal.FrozenType(org.apache.cassandra.db.marshal.ListType("
        "org.apache.cassandra.db.marshal.Int32Type)))'",
        "map<text, frozen<list<int>>>",
    ),
    ("'com.example.MyType'", "'com.example.MyType'"),
    ("'org.apache.cassandra.db.marshal.EmptyType'", "empty"),
    ("empty", "empty"),
    (
        "'org.apache.cassandra.db.marshal.DynamicCompositeType(s=>UTF8Type)'",
        "'org.apache.cassandra.db.marshal.DynamicCompositeType(s=>UTF8Type)'",
    ),
]


@pytest.mark.parametrize(("text", "rendered"), PARSE_CASES)
def test_parse_and_render(text: str, rendered: str) -> None:
    t = parse_cql_type(text, USER_TYPES, keyspace="shop")
    assert t.cql() == rendered
    assert parse_cql_type(rendered, USER_TYPES, keyspace="shop") == t


def test_parsed_structure() -> None:
    t = parse_cql_type("map<text, frozen<list<int>>>")
    assert isinstance(t, T.MapType)
    assert t.is_multi_cell and not t.value.is_multi_cell
    assert t.key == T.TEXT and t.value == T.ListType(T.INT, frozen=True)
    assert parse_cql_type("tuple<int>") == parse_cql_type("frozen<tuple<int>>")
    assert parse_cql_type("list<int>") != parse_cql_type("frozen<list<int>>")
    udt = parse_cql_type("frozen<address>", USER_TYPES, keyspace="shop")
    assert isinstance(udt, T.UserType)
    assert (udt.keyspace, udt.name, udt.field_names, udt.field_types) == (
        "shop",
        "address",
        ("street", "zip"),
        (T.TEXT, T.INT),
    )
    # Marshal-syntax user types carry their definition inline (hex names).
    marshal = parse_cql_type(
        "'org.apache.cassandra.db.marshal.UserType(shop,61646472657373,"
        "737472656574:org.apache.cassandra.db.marshal.UTF8Type,7a6970:org.apache.cassandra.db.marshal.Int32Type)'"
    )
    assert marshal == parse_cql_type("address", USER_TYPES, keyspace="shop")


def test_user_type_resolvers() -> None:
    def resolver(keyspace: str | None, name: str) -> UserTypeDef | None:
        return ADDRESS if (keyspace, name) == ("shop", "address") else None

    assert parse_cql_type("shop.address", resolver) == parse_cql_type("address", {"address": ADDRESS})
    assert parse_cql_type("address", {"shop.address": ADDRESS}, keyspace="shop").cql() == "address"
    # Quoted names keep their case; bare ones are lower-cased.
    with pytest.raises(CqlTypeError, match=r"'shop\.point'"):
        parse_cql_type("Point", USER_TYPES, keyspace="shop")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frozen<nosuch>", "unknown user type 'ks.nosuch'"),
        ("list<int", "unexpected end"),
        ("list<int>>", "unexpected '>'"),
        ("map<int>", "expected ','"),
        ("vector<float, x>", "dimension"),
        ("vector<float, 0>", "positive"),
        ("int int", "unexpected"),
        ("", "unexpected end"),
        ("list<?>", "unexpected"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(CqlTypeError, match=message):
        parse_cql_type(text, {}, keyspace="ks")


# --- JSON ---------------------------------------------------------------------------------------------

JSON_CASES: list[tuple[str, Any, Any]] = [
    ("blob", b"\x01\xab", "0x01ab"),
    ("uuid", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("inet", ipaddress.IPv6Address("::1"), "::1"),
    ("decimal", decimal.Decimal("1.50"), "1.50"),
    ("varint", 2**70, str(2**70)),
    ("bigint", -5, -5),
    ("float", 0.1, 0.1),
    ("float", math.nan, "NaN"),
    ("double", math.inf, "Infinity"),
    ("double", -math.inf, "-Infinity"),
    ("date", datetime.date(2024, 2, 29), "2024-02-29"),
    ("date", CqlDate(-(2**31)), "-5877641-06-23"),
    ("date", CqlDate(2**31 - 1), "+5881580-07-11"),
    ("time", 3_723_000_000_009, "01:02:03.000000009"),
    ("timestamp", datetime.datetime(2023, 11, 6, 15, 9, 49, 123000, tzinfo=UTC), "2023-11-06T15:09:49.123Z"),
    ("timestamp", CqlTimestamp(-(2**63)), "-292275055-05-16T16:47:04.192Z"),
    ("duration", Duration(14, 3, 3_723_004_005_006), "1y2mo3d1h2m3s4ms5us6ns"),
    ("duration", Duration(0, -3, 0), "-3d"),
    ("duration", Duration(0, 0, 0), "0s"),
    ("list<int>", [1, None], [1, None]),
    (
        "set<timeuuid>",
        [uuid.UUID("00112233-4455-1177-8899-aabbccddeeff")],
        ["00112233-4455-1177-8899-aabbccddeeff"],
    ),
    ("map<text, blob>", {"a": b"\x00"}, {"a": "0x00"}),
    ("map<int, text>", {1: "a"}, {"1": "a"}),
    ("map<frozen<list<int>>, int>", [([1, 2], 3)], {"[1,2]": 3}),
    ("map<uuid, int>", {uuid.UUID(int=0): 1}, {"00000000-0000-0000-0000-000000000000": 1}),
    ("tuple<int, text, blob>", (1, None, b""), [1, None, "0x"]),
    ("frozen<address>", {"street": "x", "zip": None}, {"street": "x", "zip": None}),
    ("vector<float, 2>", [1.0, 0.5], [1.0, 0.5]),
]


@pytest.mark.parametrize(("text", "value", "expected"), JSON_CASES)
def test_to_json(text: str, value: Any, expected: Any) -> None:
    t = parse_cql_type(text, USER_TYPES, keyspace="shop")
    assert t.to_json(value) == expected


def test_float_json_is_shortest_binary32_decimal() -> None:
    value = T.FLOAT.deserialize(T.FLOAT.serialize(0.1))
    assert value != 0.1  # the binary32 value read back as a double
    assert T.FLOAT.to_json(value) == 0.1


# --- properties -----------------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to itself."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_round_trip(data: st.DataObject) -> None:
    t = data.draw(cql_types(max_depth=2, include_counter=True))
    value = data.draw(values_of(t))
    raw = t.serialize(value)
    back = t.deserialize(raw)
    assert _same(back, value)
    assert t.serialize(back) == raw
    if t.value_length_if_fixed() >= 0:
        assert len(raw) == t.value_length_if_fixed()
    json.dumps(t.to_json(back), allow_nan=False)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_round_trip_with_nan(data: st.DataObject) -> None:
    t = data.draw(
        st.sampled_from([T.FLOAT, T.DOUBLE, parse_cql_type("vector<float, 2>"), parse_cql_type("list<double>")])
    )
    value = data.draw(values_of(t, allow_nan=True))
    raw = t.serialize(value)
    assert t.serialize(t.deserialize(raw)) == raw
    json.dumps(t.to_json(t.deserialize(raw)), allow_nan=False)


def _user_types_in(t: T.CqlType, out: dict[str, T.UserType]) -> bool:
    """Collect the UDTs of ``t`` by name; False when two differ under one name."""
    children: list[T.CqlType] = []
    if isinstance(t, T.UserType):
        known = out.setdefault(t.name, t)
        if (known.keyspace, known.field_names, known.field_types) != (t.keyspace, t.field_names, t.field_types):
            return False
        children = list(t.field_types)
    elif isinstance(t, T.ListType | T.SetType):
        children = [t.element]
    elif isinstance(t, T.MapType):
        children = [t.key, t.value]
    elif isinstance(t, T.TupleType):
        children = list(t.elements)
    elif isinstance(t, T.VectorType):
        children = [t.element]
    return all(_user_types_in(c, out) for c in children)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(cql_types(max_depth=3))
def test_render_parse_round_trip(t: T.CqlType) -> None:
    found: dict[str, T.UserType] = {}
    if not _user_types_in(t, found):
        return
    defs = {
        name: UserTypeDef(u.keyspace, u.name, list(u.field_names), list(u.field_types)) for name, u in found.items()
    }
    assert parse_cql_type(t.cql(), defs) == t


@given(st.lists(st.binary(max_size=300), max_size=4))
def test_composite_key_round_trip(parts: list[bytes]) -> None:
    assert T.split_composite_key(T.join_composite_key(parts), len(parts)) == parts


def test_type_equality_sees_nested_user_type_fields() -> None:
    other = UserTypeDef("shop", "address", ["street"], [T.TEXT])
    a = parse_cql_type("list<frozen<address>>", USER_TYPES, keyspace="shop")
    b = parse_cql_type("list<frozen<address>>", {("shop", "address"): other}, keyspace="shop")
    assert a.cql() == b.cql()
    assert a != b
    assert a == parse_cql_type("list<frozen<address>>", USER_TYPES, keyspace="shop")
    assert hash(a) == hash(parse_cql_type("list<frozen<address>>", USER_TYPES, keyspace="shop"))
