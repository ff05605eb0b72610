"""Shared pieces of the masking tests: a config over the benchmark schema and workload changes."""

from __future__ import annotations

import uuid
from typing import Any

from cassandra_cdc.changes.model import RowChange, SourcePosition
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.simulator.schemas import benchmark_schema
from tests.workload import generated_changes

PEPPER = "pepper-0123456789abcdef"
KEY_V1 = "token-key-v1-0123456789"
KEY_V2 = "token-key-v2-9876543210"
USERS_ID = uuid.UUID("5a1c0d8e-7cbb-11ee-9858-c9aa1eb53e69")
ORDERS_ID = uuid.UUID("6b2d1e9f-7cbb-11ee-9858-c9aa1eb53e69")
SOURCE = SourcePosition("n1", 1, 100)


def masking_section(**overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "pepper": PEPPER,
        "keys": {"v1": KEY_V1, "v2": KEY_V2},
        "active_key": "v1",
        "tables": {
            "shop.users": {
                "user_id": {"classification": "pii", "rule": "hmac", "key_version": "v1"},
                "email": {"classification": "pii", "rule": "partial", "keep": "email_domain"},
                "phone": {"classification": "pii", "rule": "partial", "keep": "last_digits"},
                "name": {"classification": "pii", "rule": "hmac"},
                "birth_date": {"classification": "phi", "rule": "hash"},
                "tags": {"classification": "pii", "rule": "hash"},
                "prefs.values": {"classification": "pii", "rule": "redact"},
                "home": {"classification": "pii", "rule": "hmac"},
                "home.country": {"classification": "none", "rule": "none"},
                "avatar": {"classification": "phi", "rule": "redact"},
            },
            "shop.orders": {
                "customer_id": {"classification": "pii", "rule": "hash"},
                "notes": {"classification": "pii", "rule": "redact"},
                "items": {"classification": "pii", "rule": "hmac"},
                "quantities.keys": {"classification": "pii", "rule": "hmac", "key_version": "v1"},
                "shipping.street": {"classification": "pii", "rule": "hash"},
                "shipping.zip": {"classification": "pii", "rule": "redact"},
            },
            "shop.readings": {
                "sensor_id": {"classification": "pii", "rule": "hash"},
                "location": {"classification": "pii", "rule": "hash"},
                "ip": {"classification": "pii", "rule": "hmac"},
                "firmware": {"classification": "none", "rule": "passthrough"},
            },
        },
    }
    section.update(overrides)
    return section


def workload_changes(schema: Schema | None = None, count: int = 300, seed: int = 7) -> list[RowChange]:
    """Changes of a seeded benchmark workload on few partitions (tables in name order)."""
    schema = schema or benchmark_schema()
    tables = sorted(schema.tables.values(), key=lambda t: t.name)
    return generated_changes(
        schema, count, seed=seed, tables=tables, first_position=100, partitions_per_table=20, rows_per_partition=4
    )
