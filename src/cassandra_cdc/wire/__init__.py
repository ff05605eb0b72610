"""Byte-level primitives shared by every Cassandra structure: Java DataInput/DataOutput and VInts."""

from cassandra_cdc.wire.reader import DataReader, TruncatedInputError
from cassandra_cdc.wire.writer import DataWriter

__all__ = ["DataReader", "DataWriter", "TruncatedInputError"]
