"""The inspect JSON of cells: a tombstone shows its local deletion time."""

from __future__ import annotations

import uuid

from cassandra_cdc.changes.model import CellChange, Op, RowChange, SourcePosition
from cassandra_cdc.changes.render import change_to_json
from cassandra_cdc.schema.cql_file import parse_cql_schema


def test_cell_tombstones_render_their_local_deletion_time() -> None:
    schema, _ = parse_cql_schema(
        "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};\n"
        "CREATE TABLE ks.t (k int PRIMARY KEY, v text, w text, s set<int>);"
    )
    table = next(iter(schema.tables.values()))
    cells = [
        CellChange("v", None, 10, deleted=True, local_deletion_time=1_700_000_000),
        CellChange("w", "x", 10),
        CellChange("s", None, 10, deleted=True, path=3, has_path=True, local_deletion_time=1_700_000_001),
    ]
    change = RowChange("ks", "t", uuid.uuid4(), Op.UPDATE, SourcePosition("n1", 1, 1), {"k": 1}, cells=cells)
    rendered = change_to_json(change, table, 1, 1)["cells"]
    assert rendered["v"]["deleted"] and rendered["v"]["local_deletion_time"] == "2023-11-14T22:13:20Z"
    assert "local_deletion_time" not in rendered["w"]
    assert rendered["s"]["elements"][0]["local_deletion_time"] == "2023-11-14T22:13:21Z"
