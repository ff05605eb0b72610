"""cassandra-cdc: change-data-capture from Apache Cassandra commit logs."""

__version__ = "0.1.0"
