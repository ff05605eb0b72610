"""Schemas from system_schema rows recorded from a 4.1 cluster (same cluster as the 5.0 DESCRIBE file)."""

from __future__ import annotations

import copy
import datetime as dt
import sys
import uuid
from collections import namedtuple
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.loader import SchemaLoadReport, load_schema
from cassandra_cdc.schema.model import ColumnKind, Schema, TableSchema
from cassandra_cdc.schema.system_schema import (
    SYSTEM_SCHEMA_TABLES,
    SystemSchemaError,
    SystemSchemaRows,
    fetch_rows,
    load_from_cluster,
    rows_from_json,
    schema_from_rows,
)

DATA = Path(__file__).parent / "data"
ROWS = DATA / "shop_system_schema_4_1.json"
ORDERS_ID = uuid.UUID("5a1c395e-b41f-11e5-9f22-ba0be0483c18")


@pytest.fixture()
def rows() -> SystemSchemaRows:
    return rows_from_json(ROWS)


def table(schema: Schema, keyspace: str, name: str) -> TableSchema:
    found = schema.by_name(keyspace, name)
    assert found is not None, f"{keyspace}.{name} missing"
    return found


def signature(t: TableSchema) -> tuple[Any, ...]:
    columns = sorted((c.name, c.type.cql(), c.kind, c.position, c.reversed) for c in t.columns)
    dropped = sorted((d.name, d.type.cql(), d.dropped_time, d.kind) for d in t.dropped_columns.values())
    return (
        t.keyspace,
        t.name,
        t.id,
        t.cdc,
        t.gc_grace_seconds,
        t.default_time_to_live,
        t.is_view,
        columns,
        dropped,
    )


def test_recorded_rows_build_every_table(rows: SystemSchemaRows) -> None:
    schema, report = schema_from_rows(rows, source="rec")
    assert {t.qualified_name for t in schema.tables.values()} == {
        "shop.Contacts",
        "shop.orders",
        "shop.orders_by_id",
        "shop.page_views",
        "system_auth.roles",
    }
    assert schema.keyspaces == {"shop", "system_auth", "system_schema"}
    assert report.warnings == [] and report.skipped == [] and report.unknown_types == []


def test_orders_columns_dropped_and_params(rows: SystemSchemaRows) -> None:
    schema, _ = schema_from_rows(rows)
    orders = schema.by_id(ORDERS_ID)
    assert orders is not None and orders.qualified_name == "shop.orders"
    assert orders.cdc and orders.gc_grace_seconds == 3600 and orders.default_time_to_live == 0
    assert [(c.name, c.position, c.reversed) for c in orders.clustering] == [
        ("order_date", 0, True),
        ("order_id", 1, False),
    ]
    static = orders.column("customer_name")
    assert static is not None and static.kind is ColumnKind.STATIC and static.position == 0
    items = orders.column("items")
    assert items is not None and items.type.cql() == "map<text, int>" and items.type.is_multi_cell
    # dropped_time: ISO text and epoch millis both become microseconds.
    assert orders.dropped_columns["coupon"].dropped_time == 1700000000000000
    assert orders.dropped_columns["coupon"].type.cql() == "int"
    assert orders.dropped_columns["discount"].dropped_time == 1700000100000000
    coupon = orders.column("coupon")
    assert coupon is not None and coupon.type.cql() == "text"  # re-added after the drop


def test_udts_resolved_out_of_order_and_counter(rows: SystemSchemaRows) -> None:
    assert [r["type_name"] for r in rows.types] == ["contact", "address"]
    schema, _ = schema_from_rows(rows)
    contact = schema.user_types[("shop", "contact")]
    assert contact.field_types[1].cql() == "frozen<list<frozen<address>>>"
    info = table(schema, "shop", "Contacts").column("Info")
    assert info is not None and info.type.is_multi_cell
    assert table(schema, "shop", "page_views").is_counter


def test_same_schema_as_describe_with_internals(rows: SystemSchemaRows) -> None:
    from_rows, _ = schema_from_rows(rows, keyspaces=["shop"])
    from_cql, _ = parse_cql_schema((DATA / "shop_describe_internals_5_0.cql").read_text())
    assert sorted(signature(t) for t in from_rows.tables.values()) == sorted(
        signature(t) for t in from_cql.tables.values()
    )


def test_keyspace_filter(rows: SystemSchemaRows) -> None:
    schema, _ = schema_from_rows(rows, keyspaces=["system_auth"])
    assert [t.qualified_name for t in schema.tables.values()] == ["system_auth.roles"]
    assert schema.user_types == {}


def test_driver_values_datetime_uuid_sets(rows: SystemSchemaRows) -> None:
    # What cassandra-driver returns: uuid.UUID, naive UTC datetime, sets.
    for row in rows.tables:
        row["id"] = uuid.UUID(row["id"])
        row["flags"] = set(row["flags"])
    rows.dropped_columns[0]["dropped_time"] = dt.datetime(2023, 11, 14, 22, 13, 20, 123000)
    schema, _ = schema_from_rows(rows)
    orders = schema.by_id(ORDERS_ID)
    assert orders is not None
    assert orders.dropped_columns["coupon"].dropped_time == 1700000000123000


def test_compact_table_is_skipped_and_reported(rows: SystemSchemaRows) -> None:
    rows.tables[1]["flags"] = ["dense"]
    schema, report = schema_from_rows(rows)
    assert schema.by_id(ORDERS_ID) is None
    assert "COMPACT STORAGE" in report.unsupported_table_ids[ORDERS_ID]
    assert any(s.startswith("table shop.orders: COMPACT STORAGE") for s in report.skipped)


def test_unknown_type_is_reported(rows: SystemSchemaRows) -> None:
    rows.columns[0]["type"] = "frozen<nosuch>"
    schema, report = schema_from_rows(rows)
    assert schema.by_name("shop", "Contacts") is None
    assert report.unknown_types and report.unknown_types[0].startswith("shop.Contacts.Info: frozen<nosuch>")


@pytest.mark.parametrize(
    ("table_name", "index", "column", "value", "message"),
    [
        ("tables", 0, "id", "not-a-uuid", "system_schema.tables row shop/Contacts: id must be a uuid"),
        ("columns", 0, "kind", "weird", "unknown column kind 'weird'"),
        ("columns", 1, "position", 3, "partition_key column positions [1, 3]"),
        ("dropped_columns", 0, "dropped_time", "yesterday", "dropped_time must be a timestamp"),
        ("types", 0, "field_types", ["text"], "2 field_names but 1 field_types"),
    ],
)
def test_malformed_rows_raise_clear_errors(
    rows: SystemSchemaRows, table_name: str, index: int, column: str, value: Any, message: str
) -> None:
    getattr(rows, table_name)[index][column] = value
    if table_name == "types":
        # A broken type is reported (and skips what uses it) rather than raised.
        _, report = schema_from_rows(rows)
        assert any(message in s for s in report.skipped)
        return
    with pytest.raises(SystemSchemaError, match=message.replace("[", r"\[").replace("]", r"\]")):
        schema_from_rows(rows)


def test_rows_from_json_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"tables": [1]}')
    with pytest.raises(SystemSchemaError, match="'tables' must be a list of row objects"):
        rows_from_json(bad)
    bad.write_text("{\n  nope")
    with pytest.raises(SystemSchemaError, match=r"bad\.json:2:3: invalid JSON"):
        rows_from_json(bad)


class FakeSession:
    """Answers the SELECTs like a driver session with the default named-tuple row factory."""

    def __init__(self, recorded: SystemSchemaRows) -> None:
        self.recorded = recorded
        self.queries: list[str] = []

    def execute(self, query: str) -> Iterable[Any]:
        self.queries.append(query)
        name = query.rsplit(".", 1)[1]
        out = []
        for row in getattr(self.recorded, name):
            tuple_type = namedtuple("Row", sorted(row))  # type: ignore[misc]
            out.append(tuple_type(**row))
        return out


def test_fetch_rows_through_a_session(rows: SystemSchemaRows) -> None:
    session = FakeSession(copy.deepcopy(rows))
    fetched = fetch_rows(session, keyspaces=["shop"])
    assert session.queries == [f"SELECT * FROM system_schema.{t}" for t in SYSTEM_SCHEMA_TABLES]
    assert all(r["keyspace_name"] == "shop" for r in fetched.columns)
    schema, _ = schema_from_rows(fetched)
    assert schema.by_id(ORDERS_ID) is not None and len(schema.tables) == 4


def test_load_from_cluster_without_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cassandra.cluster", None)
    with pytest.raises(RuntimeError, match=r"cassandra-cdc\[cluster\]"):
        load_from_cluster(["127.0.0.1"])


def test_loader_reads_json_rows() -> None:
    report = SchemaLoadReport(source="x")
    schema = load_schema(ROWS, report)
    assert schema.by_id(ORDERS_ID) is not None
    assert report.warnings == []
