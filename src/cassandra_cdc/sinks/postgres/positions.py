"""Each source node's commit-log position, stored in the same transaction as the data it covers."""

from __future__ import annotations

from typing import Any

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.sinks.postgres.ddl import q

TABLE = "cdc_sink_positions"


def create_sql(schema: str) -> list[str]:
    return [
        f"CREATE SCHEMA IF NOT EXISTS {q(schema)}",
        f"CREATE TABLE IF NOT EXISTS {q(schema)}.{TABLE} (\n"
        "  sink text NOT NULL, node text NOT NULL, segment_id bigint NOT NULL, position bigint NOT NULL,\n"
        "  PRIMARY KEY (sink, node)\n)",
    ]


def upsert_sql(schema: str) -> str:
    return (
        f"INSERT INTO {q(schema)}.{TABLE} (sink, node, segment_id, position) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (sink, node) DO UPDATE SET segment_id = excluded.segment_id, position = excluded.position"
    )


def upsert_params(sink: str, positions: dict[str, SourcePosition]) -> list[tuple[Any, ...]]:
    return [(sink, node, p.segment_id, p.position) for node, p in sorted(positions.items())]


def select_sql(schema: str) -> str:
    return f"SELECT node, segment_id, position FROM {q(schema)}.{TABLE} WHERE sink = %s"


def from_rows(rows: list[tuple[Any, ...]]) -> dict[str, SourcePosition]:
    return {node: SourcePosition(node, int(seg), int(pos)) for node, seg, pos in rows}
