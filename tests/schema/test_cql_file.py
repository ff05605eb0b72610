"""CQL schema files: DESCRIBE ... WITH INTERNALS (5.0), snapshot schema.cql (3.11), plain DESCRIBE."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cassandra_cdc.schema.cql_file import (
    UNKNOWN_DROP_TIME,
    CqlSchemaError,
    SkippedStatement,
    TokenKind,
    parse_cql_schema,
    parse_statements,
    tokenize,
)
from cassandra_cdc.schema.loader import SchemaLoadReport, load_schema, load_schema_file
from cassandra_cdc.schema.model import ColumnKind, Schema, TableSchema
from cassandra_cdc.schema.system_tables import system_table_id

DATA = Path(__file__).parent / "data"
ORDERS_ID = uuid.UUID("5a1c395e-b41f-11e5-9f22-ba0be0483c18")
WITH_ID = "WITH ID = 5a1c395e-b41f-11e5-9f22-ba0be0483c18"


def table(schema: Schema, keyspace: str, name: str) -> TableSchema:
    found = schema.by_name(keyspace, name)
    assert found is not None, f"{keyspace}.{name} missing"
    return found


def layout(t: TableSchema) -> list[tuple[str, str, ColumnKind, int, bool]]:
    return sorted((c.name, c.type.cql(), c.kind, c.position, c.reversed) for c in t.columns)


# ---- tokenizer


def test_tokenizer_comments_strings_and_positions() -> None:
    text = "-- line comment\nCREATE /* block\n comment */ \"Mixed\"\"Q\" 'it''s' $$a;b$$ // tail\n 0x0A 1.5e3 x;"
    tokens = tokenize(text, "f.cql")
    kinds = [(t.kind, t.text) for t in tokens]
    assert kinds == [
        (TokenKind.IDENT, "CREATE"),
        (TokenKind.QUOTED, 'Mixed"Q'),
        (TokenKind.STRING, "it's"),
        (TokenKind.STRING, "a;b"),
        (TokenKind.HEX, "0x0A"),
        (TokenKind.NUMBER, "1.5e3"),
        (TokenKind.IDENT, "x"),
        (TokenKind.PUNCT, ";"),
        (TokenKind.EOF, ""),
    ]
    assert (tokens[0].line, tokens[0].column) == (2, 1)
    assert (tokens[1].line, tokens[1].column) == (3, 13)
    assert (tokens[4].line, tokens[4].column) == (4, 2)


def test_tokenizer_uuid_starting_with_letter_or_digit() -> None:
    tokens = tokenize("ID = af0f3b0c-1234-11ee-8000-0242ac120002 AND ID = 5a1c395e-b41f-11e5-9f22-ba0be0483c18")
    uuids = [t.text for t in tokens if t.kind is TokenKind.UUID]
    assert uuids == ["af0f3b0c-1234-11ee-8000-0242ac120002", "5a1c395e-b41f-11e5-9f22-ba0be0483c18"]


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("CREATE TABLE t (\n  a int,\n  b 'x", "unterminated string", 3, 5),
        ('x\n "abc', "unterminated quoted identifier", 2, 2),
        ("a /* never closed", "unterminated /* comment", 1, 3),
        ("a\n  @", "unexpected character '@'", 2, 3),
    ],
)
def test_tokenizer_errors_name_file_line_column(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(CqlSchemaError) as info:
        tokenize(text, "schema.cql")
    assert (info.value.line, info.value.column) == (line, column)
    assert str(info.value).startswith(f"schema.cql:{line}:{column}: ")
    assert message in str(info.value)


# ---- 5.0 DESCRIBE ... WITH INTERNALS


@pytest.fixture(scope="module")
def describe_50() -> tuple[Schema, SchemaLoadReport]:
    path = DATA / "shop_describe_internals_5_0.cql"
    return parse_cql_schema(path.read_text(), str(path))


def test_describe_internals_tables_and_ids(describe_50: tuple[Schema, SchemaLoadReport]) -> None:
    schema, report = describe_50
    assert schema.keyspaces == {"shop"}
    assert {t.qualified_name for t in schema.tables.values()} == {
        "shop.Contacts",
        "shop.orders",
        "shop.orders_by_id",
        "shop.page_views",
    }
    orders = schema.by_id(ORDERS_ID)
    assert orders is not None and orders.qualified_name == "shop.orders"
    assert all(t.id_known for t in schema.tables.values())
    assert report.tables_without_id == []
    assert report.missing_id_warning() is None
    assert report.unknown_types == []
    assert report.warnings == []  # indexes, functions, aggregates are skipped quietly


def test_describe_internals_orders_layout(describe_50: tuple[Schema, SchemaLoadReport]) -> None:
    orders = table(describe_50[0], "shop", "orders")
    assert layout(orders) == [
        ("coupon", "text", ColumnKind.REGULAR, 0, False),
        ("customer_id", "uuid", ColumnKind.PARTITION_KEY, 0, False),
        ("customer_name", "text", ColumnKind.STATIC, 0, False),
        ("history", "list<text>", ColumnKind.REGULAR, 0, False),
        ("items", "map<text, int>", ColumnKind.REGULAR, 0, False),
        ("order_date", "date", ColumnKind.CLUSTERING, 0, True),
        ("order_id", "timeuuid", ColumnKind.CLUSTERING, 1, False),
        ("ship_to", "frozen<address>", ColumnKind.REGULAR, 0, False),
        ("tags", "set<text>", ColumnKind.REGULAR, 0, False),
        ("total", "decimal", ColumnKind.REGULAR, 0, False),
    ]
    assert orders.cdc is True
    assert orders.gc_grace_seconds == 3600
    assert orders.default_time_to_live == 0
    assert [c.name for c in orders.partition_key] == ["customer_id"]
    assert [c.name for c in orders.clustering] == ["order_date", "order_id"]
    ship_to = orders.column("ship_to")
    assert ship_to is not None and not ship_to.type.is_multi_cell
    tags = orders.column("tags")
    assert tags is not None and tags.type.is_multi_cell


def test_dropped_column_keeps_type_and_drop_time(describe_50: tuple[Schema, SchemaLoadReport]) -> None:
    orders = table(describe_50[0], "shop", "orders")
    discount = orders.dropped_columns["discount"]
    assert discount.type.cql() == "double"
    assert discount.dropped_time == 1700000100000000
    assert discount.kind is ColumnKind.REGULAR
    assert orders.column("discount") is None


def test_column_re_added_after_drop(describe_50: tuple[Schema, SchemaLoadReport]) -> None:
    orders = table(describe_50[0], "shop", "orders")
    # Dropped as int at t=1700000000000000, then re-added as text: both are known.
    coupon_dropped = orders.dropped_columns["coupon"]
    assert coupon_dropped.type.cql() == "int"
    assert coupon_dropped.dropped_time == 1700000000000000
    coupon = orders.column("coupon")
    assert coupon is not None and coupon.type.cql() == "text" and coupon.kind is ColumnKind.REGULAR


def test_quoted_identifiers_and_udt_before_use(describe_50: tuple[Schema, SchemaLoadReport]) -> None:
    schema = describe_50[0]
    contacts = table(schema, "shop", "Contacts")
    assert schema.by_name("shop", "contacts") is None  # quoted names keep their case
    assert [c.name for c in contacts.partition_key] == ["Region", "id"]
    assert [c.position for c in contacts.partition_key] == [0, 1]
    info = contacts.column("Info")
    assert info is not None and info.type.is_multi_cell  # non-frozen UDT: one cell per field
    assert contacts.column('quote"d') is not None
    assert contacts.default_time_to_live == 86400
    assert contacts.cdc is False
    contact = schema.user_types[("shop", "contact")]
    assert contact.field_names == ["name", "addresses"]
    assert contact.field_types[1].cql() == "frozen<list<frozen<address>>>"


def test_counter_table(describe_50: tuple[Schema, SchemaLoadReport]) -> None:
    page_views = table(describe_50[0], "shop", "page_views")
    assert page_views.is_counter
    assert layout(page_views) == [
        ("page", "text", ColumnKind.PARTITION_KEY, 0, False),
        ("views", "counter", ColumnKind.REGULAR, 0, False),
    ]


def test_materialized_view_is_a_table(describe_50: tuple[Schema, SchemaLoadReport]) -> None:
    view = table(describe_50[0], "shop", "orders_by_id")
    assert view.is_view
    assert view.id == uuid.UUID("9b3e7a10-b420-11e5-9f22-ba0be0483c18")
    assert layout(view) == [
        ("customer_id", "uuid", ColumnKind.CLUSTERING, 0, False),
        ("order_date", "date", ColumnKind.CLUSTERING, 1, True),
        ("order_id", "timeuuid", ColumnKind.PARTITION_KEY, 0, False),
        ("total", "decimal", ColumnKind.REGULAR, 0, False),
    ]


# ---- 3.11 snapshot schema.cql


def test_snapshot_3_11() -> None:
    schema, report = parse_cql_schema((DATA / "shop_orders_snapshot_3_11.cql").read_text(), "schema.cql")
    orders = table(schema, "shop", "orders")
    assert orders.id == ORDERS_ID and orders.id_known
    assert orders.cdc and orders.gc_grace_seconds == 3600
    assert orders.dropped_columns["discount"].type.cql() == "double"
    assert orders.dropped_columns["discount"].dropped_time == 1700000100000000
    # 3.11 prints the re-added column with its current type before dropping it, so the type it had
    # when dropped is lost in this format (5.0 prints the dropped type); the drop time survives.
    assert orders.dropped_columns["coupon"].dropped_time == 1700000000000000
    coupon = orders.column("coupon")
    assert coupon is not None and coupon.type.cql() == "text"
    assert [c.name for c in orders.clustering] == ["order_date", "order_id"]
    assert report.warnings == []


# ---- plain DESCRIBE: no ids


def test_plain_describe_has_no_ids_and_says_so() -> None:
    schema, report = parse_cql_schema((DATA / "shop_plain_describe.cql").read_text(), "plain.cql")
    events = table(schema, "shop", "events")
    page_views = table(schema, "shop", "page_views")
    assert not events.id_known and not page_views.id_known
    assert events.id.version == 5  # Cassandra only makes version 1 (tables) and 3 (system) ids
    again, _ = parse_cql_schema((DATA / "shop_plain_describe.cql").read_text(), "plain.cql")
    assert table(again, "shop", "events").id == events.id  # deterministic placeholder
    assert report.tables_without_id == ["shop.page_views", "shop.events"]
    warning = report.missing_id_warning()
    assert warning is not None
    assert "shop.page_views, shop.events" in warning
    assert "cannot be matched" in warning and "WITH INTERNALS" in warning
    assert warning == report.messages()[0]
    assert events.clustering[0].reversed


def test_system_keyspace_tables_get_derived_ids_without_with_id() -> None:
    schema, report = parse_cql_schema(
        "CREATE TABLE system.local (key text PRIMARY KEY, truncated_at map<uuid, blob>);", "s.cql"
    )
    local = table(schema, "system", "local")
    assert local.id == system_table_id("system", "local") and local.id_known
    assert report.tables_without_id == []


# ---- smaller cases


def test_use_keyspace_case_insensitive_keywords_and_inline_key() -> None:
    text = """
    use Ks;
    create type IF not EXISTS Point (X int, "Y" int);
    Create Table IF NOT EXISTS T (
        ID int Primary Key,
        P frozen<point>,
        M Map<Text, FROZEN<list<INT>>>
    ) with id = 11111111-2222-1333-8444-555555555555 and CDC = TRUE and GC_GRACE_SECONDS = 10;
    """
    schema, _ = parse_cql_schema(text)
    t = table(schema, "ks", "t")
    assert t.id == uuid.UUID("11111111-2222-1333-8444-555555555555")
    assert layout(t) == [
        ("id", "int", ColumnKind.PARTITION_KEY, 0, False),
        ("m", "map<text, frozen<list<int>>>", ColumnKind.REGULAR, 0, False),
        ("p", "frozen<point>", ColumnKind.REGULAR, 0, False),
    ]
    assert t.cdc and t.gc_grace_seconds == 10
    assert schema.user_types[("ks", "point")].field_names == ["x", "Y"]


def test_unqualified_name_without_use_is_an_error() -> None:
    with pytest.raises(CqlSchemaError, match=r"^f\.cql:2:14: 't' has no keyspace"):
        parse_cql_schema("\nCREATE TABLE t (a int PRIMARY KEY);", "f.cql")


@pytest.mark.parametrize(
    ("text", "fragment", "line", "column"),
    [
        ("CREATE TABLE ks.t (a int, b int);", "has no PRIMARY KEY", 1, 14),
        ("CREATE TABLE ks.t (\n  a int PRIMARY KEY,\n  b int\n  c int);", "expected ','", 4, 3),
        ("CREATE TABLE ks.t (a int PRIMARY KEY) WITH ID = 12;", "table ID must be a UUID", 1, 49),
        ("CREATE TABLE ks.t (a int PRIMARY KEY) WITH cdc = 'yes';", "cdc must be true or false", 1, 50),
        ("CREATE TABLE ks.t (a int, PRIMARY KEY (a, b));", "'b' is not a column", 1, 14),
        ("CREATE TABLE ks.t (a int PRIMARY KEY, a text);", "column 'a' is defined twice", 1, 39),
        (
            "CREATE TABLE ks.t (a int PRIMARY KEY);\nALTER TABLE ks.t DROP zz USING TIMESTAMP 5;",
            "unknown column 'zz'",
            2,
            23,
        ),
        (
            "CREATE TABLE ks.t (a int PRIMARY KEY);\nALTER TABLE ks.t DROP a USING TIMESTAMP 5;",
            "PRIMARY KEY column",
            2,
            23,
        ),
        ("ALTER TABLE ks.nope ADD x int;", "unknown table ks.nope", 1, 13),
        (
            "CREATE TABLE ks.t (a int PRIMARY KEY)\nWITH CLUSTERING ORDER BY (a DESC);",
            "not a clustering column",
            1,
            14,
        ),
        (
            "CREATE TABLE ks.t (a int PRIMARY KEY);\nCREATE TABLE ks.t (a int PRIMARY KEY);",
            "defined twice",
            2,
            14,
        ),
        ("CREATE TYPE ks.u (a int, a text);", "duplicate field 'a'", 1, 26),
        ("CREATE TABLE ks.t (a map<int PRIMARY KEY);", "expected ','", 1, 30),
        ("42;", "expected a statement", 1, 1),
    ],
)
def test_errors_name_line_and_column(text: str, fragment: str, line: int, column: int) -> None:
    with pytest.raises(CqlSchemaError) as info:
        parse_cql_schema(text, "bad.cql")
    assert fragment in str(info.value)
    assert (info.value.source, info.value.line, info.value.column) == ("bad.cql", line, column)


def test_unknown_type_skips_table_and_reports() -> None:
    text = f"CREATE TABLE ks.t (a int PRIMARY KEY, b frozen<nosuchtype>) {WITH_ID};\n"
    text += "ALTER TABLE ks.t ADD c int;\nCREATE TABLE ks.ok (a int PRIMARY KEY);"
    schema, report = parse_cql_schema(text, "u.cql")
    assert schema.by_name("ks", "t") is None
    assert schema.by_name("ks", "ok") is not None
    assert len(report.unknown_types) == 1 and "ks.t.b" in report.unknown_types[0]
    assert "nosuchtype" in report.unknown_types[0]
    assert any("ks.t" in s and "u.cql:1:14" in s for s in report.skipped)
    assert any("ALTER TABLE ADD on skipped table ks.t" in w for w in report.warnings)
    assert ORDERS_ID in report.unsupported_table_ids


def test_compact_storage_is_reported_not_decoded() -> None:
    text = (
        "CREATE TABLE IF NOT EXISTS ks.legacy (\n\tkey blob,\n\tcolumn1 text,\n\tvalue blob,\n"
        "\tPRIMARY KEY (key, column1))\n\tWITH ID = 5a1c395e-b41f-11e5-9f22-ba0be0483c18\n"
        "\tAND COMPACT STORAGE\n\tAND CLUSTERING ORDER BY (column1 ASC)\n\tAND cdc = false;"
    )
    schema, report = parse_cql_schema(text, "c.cql")
    assert schema.tables == {}
    assert "COMPACT STORAGE" in report.unsupported_table_ids[ORDERS_ID]
    assert any("ks.legacy" in s and "COMPACT STORAGE" in s for s in report.skipped)


def test_alter_add_static_drop_list_and_rename() -> None:
    text = f"""
    CREATE TABLE ks.t (k int, c int, v int, PRIMARY KEY (k, c)) {WITH_ID};
    ALTER TABLE ks.t ADD s text static;
    ALTER TABLE ks.t ADD (w blob, x list<int>);
    ALTER TABLE ks.t DROP (v, x) USING TIMESTAMP 42;
    ALTER TABLE ks.t DROP s USING TIMESTAMP 43;
    ALTER TABLE ks.t RENAME c TO cc;
    ALTER TABLE ks.t WITH default_time_to_live = 60 AND cdc = true;
    """
    schema, report = parse_cql_schema(text)
    t = table(schema, "ks", "t")
    assert layout(t) == [
        ("cc", "int", ColumnKind.CLUSTERING, 0, False),
        ("k", "int", ColumnKind.PARTITION_KEY, 0, False),
        ("w", "blob", ColumnKind.REGULAR, 0, False),
    ]
    assert {n: (d.type.cql(), d.dropped_time, d.kind) for n, d in t.dropped_columns.items()} == {
        "v": ("int", 42, ColumnKind.REGULAR),
        "x": ("list<int>", 42, ColumnKind.REGULAR),
        "s": ("text", 43, ColumnKind.STATIC),
    }
    assert t.default_time_to_live == 60 and t.cdc
    assert report.warnings == []


def test_drop_without_timestamp_warns() -> None:
    text = "CREATE TABLE ks.t (k int PRIMARY KEY, v int) WITH ID = 5a1c395e-b41f-11e5-9f22-ba0be0483c18;\n"
    text += "ALTER TABLE ks.t DROP v;"
    schema, report = parse_cql_schema(text, "d.cql")
    assert table(schema, "ks", "t").dropped_columns["v"].dropped_time == UNKNOWN_DROP_TIME
    assert len(report.warnings) == 1 and report.warnings[0].startswith("d.cql:2:13: DROP without USING TIMESTAMP")


def test_masked_columns_vector_and_custom_type() -> None:
    text = """
    CREATE TABLE ks.t (
        k int PRIMARY KEY,
        email text MASKED WITH system.mask_inner(1, null),
        ssn text MASKED WITH DEFAULT,
        emb vector<float, 3>,
        e 'org.apache.cassandra.db.marshal.BytesType'
    ) WITH ID = 5a1c395e-b41f-11e5-9f22-ba0be0483c18;
    """
    schema, _ = parse_cql_schema(text)
    t = table(schema, "ks", "t")
    assert [c.name for c in t.columns] == ["k", "email", "ssn", "emb", "e"]
    emb = t.column("emb")
    assert emb is not None and emb.type.cql() == "vector<float, 3>"
    e = t.column("e")
    assert e is not None and e.type.cql() == "blob"


def test_skips_other_statements_cleanly() -> None:
    statements = parse_statements(
        """
        CREATE OR REPLACE FUNCTION ks.f(a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;';
        CREATE ROLE r WITH PASSWORD = 'x; y' AND LOGIN = true;
        GRANT SELECT ON KEYSPACE ks TO r;
        CREATE TRIGGER tr ON ks.t USING 'org.Trigger';
        INSERT INTO ks.t (a) VALUES ({'a': [1, 2]});
        """
    )
    assert all(isinstance(s, SkippedStatement) for s in statements)
    assert [s.description for s in statements if isinstance(s, SkippedStatement)] == [
        "CREATE OR REPLACE FUNCTION",
        "CREATE ROLE",
        "GRANT SELECT",
        "CREATE TRIGGER",
        "INSERT INTO",
    ]


def test_alter_type_is_reported() -> None:
    _, report = parse_cql_schema("ALTER TYPE ks.u ADD z int;", "a.cql")
    assert any("ALTER TYPE at a.cql:1:1" in s for s in report.skipped)


def test_commented_out_table_3_11_is_reported() -> None:
    text = (
        "/*\nWarning: Table ks.sc omitted because it has constructs not compatible with CQL "
        "(was created via legacy API).\n\nApproximate structure, for reference:\n"
        f"CREATE TABLE IF NOT EXISTS ks.sc (key blob PRIMARY KEY) {WITH_ID};\n*/"
    )
    schema, report = parse_cql_schema(text, "x.cql")
    assert schema.tables == {}
    assert len(report.skipped) == 1 and "x.cql:1:1" in report.skipped[0] and "ks.sc omitted" in report.skipped[0]


def test_duplicate_ids_are_an_error() -> None:
    text = (
        "CREATE TABLE ks.a (k int PRIMARY KEY) WITH ID = 5a1c395e-b41f-11e5-9f22-ba0be0483c18;\n"
        "CREATE TABLE ks.b (k int PRIMARY KEY) WITH ID = 5a1c395e-b41f-11e5-9f22-ba0be0483c18;"
    )
    with pytest.raises(CqlSchemaError, match=r"^d\.cql:2:14: tables ks\.a and ks\.b have the same ID"):
        parse_cql_schema(text, "d.cql")


def test_view_on_missing_base_is_skipped() -> None:
    text = (
        "CREATE MATERIALIZED VIEW ks.v AS SELECT * FROM ks.base WHERE k IS NOT NULL PRIMARY KEY (k) "
        "WITH ID = 5a1c395e-b41f-11e5-9f22-ba0be0483c18;"
    )
    schema, report = parse_cql_schema(text)
    assert schema.tables == {}
    assert "ks.base is not defined" in report.unsupported_table_ids[ORDERS_ID]


# ---- loader


def test_loader_cql_and_report(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    report = SchemaLoadReport(source="all")
    schema = load_schema_file(DATA / "shop_plain_describe.cql", report)
    assert len(schema.tables) == 2
    assert report.tables_without_id == ["shop.page_views", "shop.events"]
    assert any("cannot be matched" in r.getMessage() for r in caplog.records)
    assert load_schema(DATA / "shop_describe_internals_5_0.cql").by_id(ORDERS_ID) is not None
    bad = tmp_path / "bad.cql"
    bad.write_bytes(b"CREATE TABLE ks.t (a int PRIMARY KEY);\n\xff")
    with pytest.raises(ValueError, match=r"bad\.cql: not UTF-8"):
        load_schema_file(bad)


# ---- robustness


_FRAGMENTS = [
    "CREATE",
    "TABLE",
    "TYPE",
    "ALTER",
    "DROP",
    "ADD",
    "USING TIMESTAMP",
    "MATERIALIZED VIEW",
    "AS SELECT",
    "FROM",
    "WHERE",
    "PRIMARY KEY",
    "WITH",
    "ID =",
    "AND",
    "CLUSTERING ORDER BY",
    "COMPACT STORAGE",
    "static",
    "ks.t",
    "ks.u",
    "t",
    '"Q""x"',
    "a",
    "b",
    "int",
    "frozen<",
    "map<text,",
    ">",
    "(",
    ")",
    ",",
    ";",
    "{",
    "}",
    ":",
    "=",
    "'s'",
    "$$x$$",
    "12",
    "-3",
    "1.5",
    "5a1c395e-b41f-11e5-9f22-ba0be0483c18",
    "/*",
    "*/",
    "--",
    "\n",
    "USE ks;",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=40) | st.text(max_size=80))
def test_any_input_parses_or_raises_a_located_error(pieces: list[str] | str) -> None:
    text = pieces if isinstance(pieces, str) else " ".join(pieces)
    try:
        parse_cql_schema(text, "fuzz.cql")
    except CqlSchemaError as exc:
        assert str(exc).startswith(f"fuzz.cql:{exc.line}:{exc.column}: ")
        assert exc.line >= 1 and exc.column >= 1


def test_loader_merges_snapshot_directory(tmp_path: Path) -> None:
    snap = DATA / "shop_orders_snapshot_3_11.cql"
    (tmp_path / "orders-5a1c395eb41f11e59f22ba0be0483c18" / "snapshots" / "s1").mkdir(parents=True)
    (tmp_path / "orders-5a1c395eb41f11e59f22ba0be0483c18" / "snapshots" / "s1" / "schema.cql").write_text(
        snap.read_text()
    )
    (tmp_path / "views-1" / "snapshots" / "s1").mkdir(parents=True)
    (tmp_path / "views-1" / "snapshots" / "s1" / "schema.cql").write_text(
        "CREATE TABLE IF NOT EXISTS shop.page_views (page text PRIMARY KEY, views counter)\n"
        "\tWITH ID = 1f2e3d4c-b421-11e5-9f22-ba0be0483c18;"
    )
    (tmp_path / "zz-dup.cql").write_text(snap.read_text().replace("gc_grace_seconds = 3600", "gc_grace_seconds = 1"))
    report = SchemaLoadReport(source="dir")
    schema = load_schema(tmp_path, report)
    assert {t.qualified_name for t in schema.tables.values()} == {"shop.orders", "shop.page_views"}
    orders = schema.by_id(ORDERS_ID)
    assert orders is not None and orders.gc_grace_seconds == 3600
    assert len(report.warnings) == 1 and "zz-dup.cql: table shop.orders" in report.warnings[0]
    assert ("shop", "address") in schema.user_types
