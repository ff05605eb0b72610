"""A thin client interface over clickhouse-connect (a server's HTTP interface) and chdb (in process).

The sink only needs three calls: ``command`` (DDL, mutations), ``query`` (rows as tuples) and
``insert`` (row tuples with the ClickHouse type of each column, sent as Arrow).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Protocol

import pyarrow as pa  # type: ignore[import-untyped]

_ARROW_TYPES = {
    "String": pa.binary(),
    "UInt8": pa.uint8(),
    "Int64": pa.int64(),
    "Int32": pa.int32(),
    "UUID": pa.binary(16),
    "Array(String)": pa.list_(pa.binary()),
}


class ClickHouseClient(Protocol):
    def command(self, sql: str) -> None: ...

    def query(self, sql: str, *, binary: bool = False) -> list[tuple[Any, ...]]:
        """Rows as tuples; ``binary`` returns String values as bytes (blobs, raw keys)."""
        ...

    def insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> None:
        """Rows (tuples in ``columns`` order) with the ClickHouse type of each column."""
        ...

    def close(self) -> None: ...


class HttpClient:
    """clickhouse-connect against a server (or the chdb worker's HTTP endpoint)."""

    def __init__(self, url: str, **settings: Any) -> None:
        import clickhouse_connect

        self._client = clickhouse_connect.get_client(dsn=url, **settings)

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def query(self, sql: str, *, binary: bool = False) -> list[tuple[Any, ...]]:
        formats = {"String": "bytes"} if binary else None
        return [tuple(r) for r in self._client.query(sql, query_formats=formats).result_rows]

    def insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> None:
        # Arrow is built in C from the row tuples and ClickHouse reads the Arrow body natively: far
        # cheaper than clickhouse-connect's per-value Native serialisation in Python.
        self._client.insert_arrow(table, arrow_table(columns, rows))

    def close(self) -> None:
        self._client.close()


def arrow_table(columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> Any:
    """``rows`` as a pyarrow Table with the Arrow type of each ClickHouse type.

    The tuples go through one struct array: pyarrow converts them in C, with no transposition in Python.
    """
    try:
        struct = pa.struct([(name, _ARROW_TYPES[ch_type]) for name, ch_type in columns])
    except KeyError as exc:
        raise TypeError(f"no Arrow mapping for ClickHouse type {exc.args[0]}") from None
    return pa.Table.from_struct_array(pa.array(rows, type=struct))


class ChdbClient:
    """chdb in this process, on a data path of its own (one session per path)."""

    def __init__(self, path: str) -> None:
        from chdb import session

        self._session: Any = session.Session(path)  # type: ignore[no-untyped-call]
        self._tmp = tempfile.mkdtemp(prefix="cdc-chdb-")

    def command(self, sql: str) -> None:
        self._session.query(sql)

    def query(self, sql: str, *, binary: bool = False) -> list[tuple[Any, ...]]:
        # Strings come back as bytes here (Arrow binary) whatever ``binary`` says, unless valid UTF-8.
        table = self._session.query(sql + " SETTINGS output_format_arrow_string_as_string = 0", "ArrowTable")
        return [tuple(r.values()) for r in table.to_pylist()]

    def insert(self, table: str, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> None:
        import pyarrow.ipc as ipc  # type: ignore[import-untyped]

        batch = arrow_table(columns, rows)
        path = os.path.join(self._tmp, "insert.arrow")
        with ipc.new_file(path, batch.schema) as writer:
            writer.write_table(batch)
        names = ", ".join(f"`{n}`" for n, _ in columns)
        structure = ", ".join(f"`{n}` {t}" for n, t in columns)
        self._session.query(f"INSERT INTO {table} ({names}) SELECT {names} FROM file('{path}', 'Arrow', '{structure}')")

    def close(self) -> None:
        self._session.close()


def connect(url: str) -> ClickHouseClient:
    """``http://host:port`` (clickhouse-connect) or ``chdb:///data/path`` (chdb in this process)."""
    if url.startswith("chdb://"):
        return ChdbClient(url.removeprefix("chdb://"))
    return HttpClient(url)
