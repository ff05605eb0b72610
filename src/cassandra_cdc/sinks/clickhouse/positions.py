"""Each source node's committed commit-log position, per sink, in ``cdc_sink_positions``.

Written after the data it covers; read as the greatest (segment, position) per node, so the
engine's merge timing and a replayed write never move a position backwards.
"""

from __future__ import annotations

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.sinks.clickhouse.client import ClickHouseClient
from cassandra_cdc.sinks.clickhouse.ddl import q, s

COLUMNS = [("sink", "String"), ("node", "String"), ("segment_id", "Int64"), ("position", "Int64")]


class PositionStore:
    def __init__(self, client: ClickHouseClient, database: str, sink: str) -> None:
        self.client = client
        self.table = f"{q(database)}.cdc_sink_positions"
        self.database = database
        self.sink = sink

    def create(self) -> None:
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {q(self.database)}")
        self.client.command(
            f"CREATE TABLE IF NOT EXISTS {self.table} (sink String, node String, segment_id Int64, position Int64) "
            "ENGINE = ReplacingMergeTree ORDER BY (sink, node, segment_id, position)"
        )

    def read(self) -> dict[str, SourcePosition]:
        rows = self.client.query(
            f"SELECT node, m.1, m.2 FROM (SELECT node, max((segment_id, position)) AS m FROM {self.table} "
            f"WHERE sink = {s(self.sink)} GROUP BY node)"
        )
        out = {}
        for node, segment_id, position in rows:
            node_name = node.decode() if isinstance(node, bytes) else str(node)
            out[node_name] = SourcePosition(node_name, int(segment_id), int(position))
        return out

    def write(self, positions: dict[str, SourcePosition]) -> None:
        if not positions:
            return
        rows = [(self.sink.encode(), node.encode(), p.segment_id, p.position) for node, p in sorted(positions.items())]
        self.client.insert(self.table, COLUMNS, rows)
