"""Fixtures shared by the PostgreSQL sink tests (a module may define its own of the same name)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from cassandra_cdc.schema.model import Schema
from cassandra_cdc.simulator.schemas import benchmark_schema


@pytest.fixture(scope="module")
def schema() -> Schema:
    return benchmark_schema()


@pytest.fixture(scope="module")
def conn(postgres_server: Any) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test PostgreSQL, for reading what the sinks wrote."""
    with psycopg.connect(postgres_server.dsn, autocommit=True) as c:
        yield c
