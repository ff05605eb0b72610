"""The ClickHouse sink: per-cell argMax facts in AggregatingMergeTree tables, a final-state view per table."""

from cassandra_cdc.sinks.clickhouse.client import ChdbClient, ClickHouseClient, HttpClient, connect
from cassandra_cdc.sinks.clickhouse.writer import ClickHouseSink

__all__ = ["ChdbClient", "ClickHouseClient", "ClickHouseSink", "HttpClient", "connect"]
