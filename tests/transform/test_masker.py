"""Masking whole row changes: keys, range bounds, simple and element cells, nested values, reloads."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from typing import Any

import pytest

from cassandra_cdc.changes.model import Bound, CellChange, Deletion, Op, RowChange
from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.transform import Masker, MaskingConfigError, MaskingError, masker_from_config, redacted_repr
from tests.transform.helpers import KEY_V1, KEY_V2, PEPPER, SOURCE

CQL = """
CREATE KEYSPACE t WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '1'};
CREATE TYPE t.addr (street text, city text);
CREATE TABLE t.p (
    id text, ck text,
    emails list<text>, tags set<text>, attrs map<text, text>, home addr,
    fhome frozen<addr>, flist frozen<list<text>>, fmap frozen<map<text, text>>,
    pos frozen<tuple<text, int>>, addrs list<frozen<addr>>, n int, note text, plain text,
    PRIMARY KEY (id, ck)
) WITH ID = 0a000000-0000-0000-0000-000000000001;
CREATE TABLE t.free (id text PRIMARY KEY, v text) WITH ID = 0a000000-0000-0000-0000-000000000002;
"""
TABLE_ID = uuid.UUID("0a000000-0000-0000-0000-000000000001")
LIST_PATH = uuid.UUID("6b2d1e9f-7cbb-11ee-9858-c9aa1eb53e69")


def schema() -> Schema:
    s, _ = parse_cql_schema(CQL, "test")
    return s


def section(active: str = "v1", **field_overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": {"classification": "pii", "rule": "hmac", "key_version": "v1"},
        "ck": {"classification": "pii", "rule": "hash"},
        "emails": {"classification": "pii", "rule": "partial", "keep": "email_domain"},
        "tags": {"classification": "pii", "rule": "hash"},
        "attrs.keys": {"classification": "pii", "rule": "hmac", "key_version": "v1"},
        "attrs.values": {"classification": "pii", "rule": "redact"},
        "home.street": {"classification": "pii", "rule": "redact"},
        "fhome.street": {"classification": "pii", "rule": "hash"},
        "flist": {"classification": "pii", "rule": "hmac"},
        "fmap.values": {"classification": "phi", "rule": "redact"},
        "pos.0": {"classification": "pii", "rule": "hash"},
        "addrs.street": {"classification": "pii", "rule": "redact"},
        "n": {"classification": "phi", "rule": "hash"},
        "note": {"rule": "hmac"},  # unclassified with a rule: allowed
    }
    fields.update(field_overrides)
    return {
        "pepper": PEPPER,
        "keys": {"v1": KEY_V1, "v2": KEY_V2},
        "active_key": active,
        "tables": {"t.p": fields},
    }


@pytest.fixture
def masker() -> Masker:
    return masker_from_config(section(), schema())


def cell(column: str, value: Any, *, path: Any = None, deleted: bool = False, raw: bytes | None = None) -> CellChange:
    return CellChange(
        column=column,
        value=value,
        timestamp=10,
        deleted=deleted,
        path=path,
        has_path=path is not None,
        raw_value=raw if raw is not None else b"raw-bytes",
    )


def change(cells: list[CellChange], **kwargs: Any) -> RowChange:
    defaults: dict[str, Any] = {
        "keyspace": "t",
        "table": "p",
        "table_id": TABLE_ID,
        "op": Op.UPDATE,
        "source": SOURCE,
        "partition_key": {"id": "patient-42"},
        "clustering": {"ck": "visit-1"},
        "cells": cells,
    }
    defaults.update(kwargs)
    return RowChange(**defaults)


def one(masker: Masker, c: CellChange) -> CellChange:
    return masker(change([c])).cells[0]


def test_keys_are_masked_deterministically_and_raw_change_is_untouched(masker: Masker) -> None:
    raw = change([cell("plain", "visible")])
    masked = masker(raw)
    assert masked.partition_key["id"].startswith("tok_v1_")
    assert masked.clustering["ck"].startswith("hash_")
    assert raw.partition_key == {"id": "patient-42"}  # a copy was masked
    assert masked.cells[0] is raw.cells[0]  # unplanned columns pass as they are
    again = masker(change([cell("plain", "visible")]))
    assert again.partition_key == masked.partition_key and again.clustering == masked.clustering


def test_range_bounds_use_the_rows_rule(masker: Masker) -> None:
    row = masker(change([cell("plain", "x")]))
    deletion = masker(
        change(
            [],
            op=Op.RANGE_DELETE,
            clustering={},
            range_start=Bound({"ck": "visit-1"}, True),
            range_end=Bound({"ck": "visit-9"}, False),
            range_deletion=Deletion(11, 1),
        )
    )
    assert deletion.range_start is not None and deletion.range_end is not None
    assert deletion.range_start.clustering == row.clustering  # the delete still matches the row
    assert deletion.range_start.inclusive and not deletion.range_end.inclusive
    assert deletion.range_end.clustering["ck"].startswith("hash_")
    assert deletion.partition_key == row.partition_key


def test_simple_cell_value_and_raw_value(masker: Masker) -> None:
    masked = one(masker, cell("n", 1234, raw=(1234).to_bytes(4, "big")))
    assert isinstance(masked.value, int) and masked.value != 1234
    assert masked.raw_value == masked.value.to_bytes(4, "big", signed=True)
    note = one(masker, cell("note", "free text", raw=b"free text"))
    assert note.value.startswith("tok_v1_") and note.raw_value == note.value.encode()
    tombstone = one(masker, cell("n", None, deleted=True, raw=b""))
    assert tombstone.value is None and tombstone.deleted and tombstone.raw_value == b""


def test_list_elements_mask_values_not_timeuuid_paths(masker: Masker) -> None:
    masked = one(masker, cell("emails", "alice@example.com", path=LIST_PATH))
    assert masked.path == LIST_PATH
    assert masked.value == "***@example.com" and masked.raw_value == b"***@example.com"


def test_set_elements_are_paths_and_tombstones_match(masker: Masker) -> None:
    added = one(masker, cell("tags", None, path="diabetic", raw=b""))
    removed = one(masker, cell("tags", None, path="diabetic", deleted=True, raw=b""))
    assert added.path.startswith("hash_") and added.path == removed.path
    assert added.value is None and added.raw_value == b""


def test_tombstones_keep_their_local_deletion_time(masker: Masker) -> None:
    element = dataclasses.replace(cell("tags", None, path="diabetic", deleted=True, raw=b""), local_deletion_time=77)
    simple = dataclasses.replace(cell("note", None, deleted=True, raw=b""), local_deletion_time=78)
    masked = masker(change([element, simple]))
    assert [c.local_deletion_time for c in masked.cells] == [77, 78]
    assert masked.cells[0].path.startswith("hash_")
    rendered = json.loads(redacted_repr(change([element]), masker))
    assert rendered["cells"][0]["local_deletion_time"] == 77 and "diabetic" not in json.dumps(rendered)


def test_map_keys_and_values(masker: Masker) -> None:
    masked = one(masker, cell("attrs", "O negative", path="blood type", raw=b"O negative"))
    assert masked.path.startswith("tok_v1_")
    assert masked.value == "REDACTED" and masked.raw_value == b"REDACTED"
    deleted = one(masker, cell("attrs", None, path="blood type", deleted=True, raw=b""))
    assert deleted.path == masked.path


def test_non_frozen_udt_fields(masker: Masker) -> None:
    street = one(masker, cell("home", "1 Main St", path="street", raw=b"1 Main St"))
    city = one(masker, cell("home", "Springfield", path="city", raw=b"Springfield"))
    assert street.value == "REDACTED" and street.raw_value == b"REDACTED"
    assert city.value == "Springfield" and city.raw_value == b"Springfield"  # no rule on city


def test_frozen_nested_values(masker: Masker) -> None:
    s = schema().by_name("t", "p")
    assert s is not None
    types = {c.name: c.type for c in s.columns}
    cells = [
        cell("fhome", {"street": "1 Main St", "city": "Springfield"}),
        cell("flist", ["a", "b", None]),
        cell("fmap", {"k1": "secret", "k2": "other"}),
        cell("pos", ("lab-7", 3)),
        cell("addrs", {"street": "2 Side St", "city": "Shelbyville"}, path=LIST_PATH),
    ]
    masked = {c.column: c for c in masker(change(cells)).cells}
    fhome = masked["fhome"].value
    assert fhome["street"].startswith("hash_") and fhome["city"] == "Springfield"
    assert [v[:7] if v else v for v in masked["flist"].value] == ["tok_v1_", "tok_v1_", None]
    assert masked["fmap"].value == {"k1": "REDACTED", "k2": "REDACTED"}
    assert masked["pos"].value[0].startswith("hash_") and masked["pos"].value[1] == 3
    assert masked["addrs"].value == {"street": "REDACTED", "city": "Shelbyville"}
    for name in ("fhome", "flist", "fmap", "pos"):
        # Tie-breaks compare the masked value's own bytes.
        assert masked[name].raw_value == types[name].serialize(masked[name].value)
    element_type = types["addrs"].cell_value_type(LIST_PATH.bytes)
    assert masked["addrs"].raw_value == element_type.serialize(masked["addrs"].value)


def test_tables_without_rules_pass_through(masker: Masker) -> None:
    c = change([cell("v", "x")], table="free", partition_key={"id": "a"}, clustering={})
    assert masker(c) is c


def test_key_rotation_applies_to_later_changes_only() -> None:
    masker = masker_from_config(section("v1"), schema())
    before = masker(change([cell("flist", ["x"]), cell("note", "n")]))
    masker.reload(section("v2"))
    after = masker(change([cell("flist", ["x"]), cell("note", "n")]))
    assert before.cells[0].value[0].startswith("tok_v1_")  # already masked: unchanged
    assert after.cells[0].value[0].startswith("tok_v2_")
    assert after.cells[1].value.startswith("tok_v2_")
    # The pinned key column keeps its token across the rotation.
    assert after.partition_key == before.partition_key
    assert after.partition_key["id"].startswith("tok_v1_")


def test_reload_refuses_key_rule_changes_and_keeps_the_old_rules() -> None:
    masker = masker_from_config(section(), schema())
    first = masker(change([]))
    changed = section(id={"classification": "pii", "rule": "hmac", "key_version": "v2"})
    with pytest.raises(MaskingConfigError, match=r"t\.p column id"):
        masker.reload(changed)
    with pytest.raises(MaskingConfigError, match=r"t\.p column tags"):
        masker.reload(section(tags={"classification": "pii", "rule": "passthrough"}))
    with pytest.raises(MaskingConfigError):
        masker.reload(section(n={"classification": "phi"}))  # invalid: no rule
    assert masker(change([])).partition_key == first.partition_key
    masker.reload(changed, allow_key_changes=True)
    assert masker(change([])).partition_key != first.partition_key


def test_rule_changes_on_values_reload_freely() -> None:
    masker = masker_from_config(section(), schema())
    masker.reload(section(note={"rule": "redact"}))
    assert one(masker, cell("note", "n")).value == "REDACTED"


def test_reload_is_atomic_under_concurrent_masking() -> None:
    masker = masker_from_config(section("v1"), schema())
    stop = threading.Event()
    mixed: list[str] = []

    def work() -> None:
        while not stop.is_set():
            masked = masker(change([cell("note", "a"), cell("flist", ["b"])]))
            versions = {masked.cells[0].value[4:6], masked.cells[1].value[0][4:6]}
            if len(versions) != 1:
                mixed.append(str(versions))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(40):
        masker.reload(section("v2" if i % 2 == 0 else "v1"))
    stop.set()
    for t in threads:
        t.join()
    assert not mixed  # every change was masked with one state, never half old and half new


RAW_VALUES = ["patient-42", "visit-1", "alice", "diabetic", "blood type", "O negative", "1 Main St", "lab-7"]


def test_redacted_repr_never_shows_raw_classified_values(masker: Masker) -> None:
    c = change(
        [
            cell("emails", "alice@example.com", path=LIST_PATH),
            cell("tags", None, path="diabetic"),
            cell("attrs", "O negative", path="blood type"),
            cell("home", "1 Main St", path="street"),
            cell("pos", ("lab-7", 3)),
            cell("plain", "visible text"),
        ]
    )
    text = redacted_repr(c, masker)
    assert text == masker.redacted_repr(c)
    for raw in RAW_VALUES:
        assert raw not in text
    assert "raw-bytes" not in text  # cell bytes are never rendered
    assert "visible text" in text and "example.com" in text
    json.loads(text)


def test_redacted_repr_uses_placeholders_when_masking_fails(masker: Masker) -> None:
    bad = change([cell("n", "not-an-int-patient-42")])
    text = masker.redacted_repr(bad)
    assert "patient-42" not in text and "<phi>" in text


def test_masking_errors_never_quote_the_value(masker: Masker) -> None:
    with pytest.raises(MaskingError) as info:
        masker(change([cell("n", "secret-value-9")]))
    message = str(info.value)
    assert "t.p column n" in message and "secret-value-9" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(MaskingError) as info2:
        masker(change([cell("fhome", "not-a-dict-secret")]))
    assert "not-a-dict-secret" not in str(info2.value)
