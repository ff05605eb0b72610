"""A reference model of Cassandra's merge semantics, for testing the sinks (see docs/semantics.md).

It shares no code with the sinks on purpose: sink tests compare a sink's final table to
``Oracle.rows``.
"""

from cassandra_cdc.oracle.conflicts import ConflictRules
from cassandra_cdc.oracle.state import EXPIRES_AT, TTL, WRITETIME, Oracle, OracleError

__all__ = ["EXPIRES_AT", "TTL", "WRITETIME", "ConflictRules", "Oracle", "OracleError"]
