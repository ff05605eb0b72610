"""A thin client interface over clickhouse-connect (a server's HTTP interface) and chdb (in process).

The sink only needs three calls: ``command`` (DDL, mutations), ``query`` (rows as tuples) and
``insert`` (column-oriented data with the ClickHouse type of each column).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Protocol

_ARROW_TYPES = {
    "String": "binary",
    "UInt8": "uint8",
    "Int64": "int64",
    "Int32": "int32",
    "UUID": "binary16",
    "Array(String)": "list_binary",
}


class ClickHouseClient(Protocol):
    def command(self, sql: str) -> None: ...

    def query(self, sql: str, *, binary: bool = False) -> list[tuple[Any, ...]]:
        """Rows as tuples; ``binary`` returns String values as bytes (blobs, raw keys)."""
        ...

    def insert(self, table: str, columns: list[tuple[str, str]], data: list[list[Any]]) -> None: ...

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

    def insert(self, table: str, columns: list[tuple[str, str]], data: list[list[Any]]) -> None:
        arrow = _arrow_table(columns, data)
        if arrow is not None:
            # Arrow arrays are built in C and ClickHouse reads the Arrow body natively: far cheaper
            # than clickhouse-connect's per-value Native serialisation in Python.
            self._client.insert_arrow(table, arrow)
            return
        self._client.insert(
            table,
            data,
            column_names=[n for n, _ in columns],
            column_type_names=[t for _, t in columns],
            column_oriented=True,
        )

    def close(self) -> None:
        self._client.close()


def _arrow_table(columns: list[tuple[str, str]], data: list[list[Any]]) -> Any:
    """``data`` as a pyarrow Table with the Arrow type of each ClickHouse type; None without pyarrow."""
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
    except ImportError:
        return None
    arrays = []
    for (_, ch_type), values in zip(columns, data, strict=True):
        kind = _ARROW_TYPES.get(ch_type)
        if kind == "binary":
            arrays.append(pa.array(values, pa.binary()))
        elif kind == "binary16":
            arrays.append(pa.array(values, pa.binary(16)))
        elif kind == "list_binary":
            arrays.append(pa.array(values, pa.list_(pa.binary())))
        elif kind is not None:
            arrays.append(pa.array(values, getattr(pa, kind)()))
        else:
            return None
    return pa.table(arrays, names=[n for n, _ in columns])


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

    def insert(self, table: str, columns: list[tuple[str, str]], data: list[list[Any]]) -> None:
        import pyarrow.ipc as ipc  # type: ignore[import-untyped]

        batch = _arrow_table(columns, data)
        if batch is None:
            raise TypeError(f"no Arrow mapping for one of {[t for _, t in columns]}")
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
