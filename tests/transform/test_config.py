"""Configuration errors name the table and column; key positions accept only one-to-one rules."""

from __future__ import annotations

from typing import Any

import pytest

from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.transform import MaskingConfigError, masker_from_config, parse_masking_config
from tests.transform.helpers import KEY_V1, PEPPER, masking_section

SECRETS_CQL = """
CREATE KEYSPACE clinic WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '1'};
CREATE TYPE clinic.addr (street text, zip int);
CREATE TABLE clinic.visits (
    patient text, visit_day date, seq int, diagnosis text,
    PRIMARY KEY ((patient), visit_day, seq)
) WITH ID = 11111111-2222-3333-4444-555555555555;
CREATE TABLE clinic.people (
    id bigint, addr frozen<addr>, codes set<text>, labels map<text, text>, flags set<frozen<addr>>,
    active boolean, score int,
    PRIMARY KEY ((id), addr)
) WITH ID = 21111111-2222-3333-4444-555555555555;
CREATE TABLE clinic.counts (id text PRIMARY KEY, hits counter) WITH ID = 31111111-2222-3333-4444-555555555555;
"""


def clinic() -> Schema:
    schema, _ = parse_cql_schema(SECRETS_CQL, "clinic")
    return schema


def section(tables: dict[str, Any]) -> dict[str, Any]:
    return {"pepper": PEPPER, "keys": {"v1": KEY_V1, "v2": KEY_V1[::-1]}, "active_key": "v2", "tables": tables}


def error(schema: Schema, tables: dict[str, Any]) -> str:
    with pytest.raises(MaskingConfigError) as info:
        masker_from_config(section(tables), schema)
    return str(info.value)


def test_the_shared_config_is_valid() -> None:
    masker = masker_from_config(masking_section(), benchmark_schema())
    assert masker.is_classified("shop", "users", "email")
    assert not masker.is_classified("shop", "users", "created_at")
    assert masker.has_classified("shop", "orders")


@pytest.mark.parametrize(
    ("selector", "options", "column"),
    [
        ("patient", {"rule": "redact"}, "patient"),
        ("patient", {"rule": "partial"}, "patient"),
        ("patient", {"rule": "hmac"}, "patient"),  # not pinned: a rotation would orphan rows
        ("seq", {"rule": "redact"}, "seq"),
        ("visit_day", {"rule": "hash"}, "visit_day"),  # a date has too few output bits
    ],
)
def test_key_columns_reject_many_to_one_rules(selector: str, options: dict[str, Any], column: str) -> None:
    message = error(clinic(), {"clinic.visits": {selector: options}})
    assert "clinic.visits" in message
    assert f"column {column}" in message
    assert "key position" in message


def test_key_columns_accept_hash_pinned_hmac_and_passthrough() -> None:
    masker = masker_from_config(
        section(
            {
                "clinic.visits": {
                    "patient": {"classification": "phi", "rule": "hmac", "key_version": "v1"},
                    "seq": "hash",
                    "visit_day": "passthrough",
                }
            }
        ),
        clinic(),
    )
    assert masker.is_classified("clinic", "visits", "patient")


def test_nested_key_parts_and_collection_keys_are_key_positions() -> None:
    # A redacted field of a frozen UDT clustering column would merge rows.
    assert "column addr" in error(clinic(), {"clinic.people": {"addr.street": "redact"}})
    # Set elements and map keys of non-frozen collections are cell paths: deletes must match.
    assert "column codes" in error(clinic(), {"clinic.people": {"codes": "redact"}})
    assert "column labels" in error(clinic(), {"clinic.people": {"labels.keys": "hmac"}})
    assert "column flags" in error(clinic(), {"clinic.people": {"flags.street": "redact"}})
    # Map values are not key positions.
    masker_from_config(section({"clinic.people": {"labels.values": "redact", "labels.keys": "hash"}}), clinic())


@pytest.mark.parametrize(
    ("tables", "fragment"),
    [
        ({"clinic.nope": {"x": "hash"}}, "clinic.nope is not in the schema"),
        ({"clinic.visits": {"nope": "hash"}}, "no column 'nope'"),
        ({"clinic.visits": {"diagnosis": {"classification": "phi"}}}, "has no masking rule"),
        ({"clinic.visits": {"diagnosis": {"classification": "phi", "rule": "none"}}}, "has no masking rule"),
        ({"clinic.visits": {"diagnosis": {"classification": "secret", "rule": "hash"}}}, "classification"),
        ({"clinic.visits": {"diagnosis": "scramble"}}, "unknown rule 'scramble'"),
        ({"clinic.visits": {"diagnosis": {"rule": "hash", "keep": "x"}}}, "do not apply to rule hash"),
        ({"clinic.counts": {"hits": "redact"}}, "counter"),
        ({"clinic.visits": {"diagnosis.x": "redact"}}, "has no part 'x'"),
        ({"clinic.people": {"addr.city": "hash"}}, "has no part 'city'"),
        ({"clinic.people": {"labels.other": "redact"}}, "expected keys or values"),
        ({"clinic.people": {"active": "hash"}}, "boolean"),
        ({"clinic.people": {"score": "partial"}}, "text and ascii only"),
        ({"clinic.visits": {"diagnosis": {"rule": "hmac", "key_version": "v9"}}}, "'v9' is not among the keys"),
        ({"visits": {"diagnosis": "hash"}}, "keyspace.table"),
    ],
)
def test_configuration_errors_name_what_is_wrong(tables: dict[str, Any], fragment: str) -> None:
    assert fragment in error(clinic(), tables)


def test_secrets_are_resolved_and_never_quoted() -> None:
    secrets: dict[str, str | bytes] = {"pep": "a-pepper-of-enough-length", "k1": b"k" * 32}
    config = parse_masking_config({"pepper": "secret:pep", "keys": {"v1": "secret:k1"}, "tables": {}}, secrets)
    assert config.active_key == "v1"  # a single key is the active one
    with pytest.raises(MaskingConfigError, match="secret 'missing'"):
        parse_masking_config({"pepper": "secret:missing"}, secrets)
    with pytest.raises(MaskingConfigError) as info:
        parse_masking_config({"pepper": "short-secret"})
    assert "short-secret" not in str(info.value)
    with pytest.raises(MaskingConfigError, match="letters and digits"):
        parse_masking_config({"keys": {"v_1": KEY_V1}})
    with pytest.raises(MaskingConfigError, match=r"needs masking\.pepper"):
        parse_masking_config({"tables": {"a.b": {"c": "hash"}}})


def test_empty_section_masks_nothing() -> None:
    masker = masker_from_config(None, clinic())
    assert masker.table_plan("clinic", "visits") is None
