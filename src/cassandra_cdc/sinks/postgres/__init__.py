"""The PostgreSQL sink (and the core the TimescaleDB sink shares): see docs/sinks-postgres.md."""

from cassandra_cdc.sinks.postgres.writer import CopyLoader, InsertLoader, Loader, PostgresSink

__all__ = ["CopyLoader", "InsertLoader", "Loader", "PostgresSink"]
