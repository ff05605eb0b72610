"""Real segments written by Cassandra 3.0.13, 3.0.29, 3.4 and 4.0.11 decode to CommitLogUpgradeTest's
cell count and hash, and every fully decoded entry re-encodes to exactly the bytes Cassandra wrote.

The checker (CommitLogUpgradeTest.Hasher): over every row of every update whose first clustering
value, as ASCII, starts with "name", count each cell and fold its value into the hash.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest

from cassandra_cdc.commitlog.encryption import EncryptionConfig
from cassandra_cdc.commitlog.entries import RawEntry
from cassandra_cdc.commitlog.model import Mutation
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.segment_reader import read_segment
from tests.commitlog.fixture_schemas import fixture_schema, read_hash_file, upgrade_test_hash

FIXTURES = ["3.0.13-encrypted", "3.0.29-encrypted", "3.4-encrypted", "4.0.11-encrypted"]


def _encryption(root: Path, name: str) -> EncryptionConfig | None:
    if name != "3.4-encrypted":
        return None
    return EncryptionConfig.from_keystore(root / "keys" / "cassandra.keystore", "cassandra", "testing:1")


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_decodes_to_upgrade_test_hash_and_reencodes_exactly(commitlog_fixtures: Path, name: str) -> None:
    directory = commitlog_fixtures / name
    expected = read_hash_file(directory)
    table_id = uuid.UUID(expected["cfid"])
    schema = fixture_schema(table_id)
    decoder = MutationDecoder(schema)
    encoder = MutationEncoder(schema)
    encryption = _encryption(commitlog_fixtures, name)

    cells = 0
    hash_value = 0
    counts: Counter[str] = Counter()
    for segment in sorted(directory.glob("*.log")):
        for entry in read_segment(segment, encryption=encryption):
            assert isinstance(entry, RawEntry), str(entry)
            result = decoder.decode(entry.data, entry.messaging_version)
            assert result.error is None, f"{segment.name}@{entry.start}: {result.error}"
            for update in result.updates:
                if update.table_id != table_id:
                    continue
                for row in update.rows:
                    first = row.clustering[0] if row.clustering else None
                    if first is not None and first.decode("ascii").startswith("name"):
                        for cell in row.cells:
                            hash_value = upgrade_test_hash(hash_value, cell.value)
                            cells += 1
            for signal in result.signals:
                counts[signal.kind] += 1
            if len(result.decoded) != result.update_count:
                # IndexInfo (COMPACT STORAGE) is deliberately not in the fixture schema.
                assert result.signals and result.signals[-1].update is None
                counts["not re-encoded"] += 1
                continue
            again = encoder.encode(Mutation(result.decoded), entry.messaging_version)
            assert again == entry.data, f"{segment.name}@{entry.start}: re-encoding differs"
            counts["re-encoded"] += 1

    assert cells == int(expected["cells"])
    assert hash_value == int(expected["hash"])
    assert counts["re-encoded"] > 0
    if name != "3.4-encrypted":
        # The 3.0/4.0 runs also wrote schema (system_schema) and system.local mutations; the latter
        # are node metadata, not TRUNCATE records (no truncated_at), so they are plain system signals.
        assert counts["schema_change"] > 0
        assert counts["system"] > 0
        assert counts["truncate"] == 0


def test_unknown_table_in_real_entry_is_reported_with_id(commitlog_fixtures: Path) -> None:
    directory = commitlog_fixtures / "4.0.11-encrypted"
    table_id = uuid.UUID(read_hash_file(directory)["cfid"])
    decoder = MutationDecoder(fixture_schema(uuid.uuid4(), with_system_tables=False))
    entry = next(
        e
        for e in read_segment(next(directory.glob("*.log")))
        if isinstance(e, RawEntry) and e.data[1:17] == table_id.bytes
    )
    result = decoder.decode(entry.data, entry.messaging_version)
    assert result.error is not None
    assert result.error.kind == "unknown_table"
    assert result.error.table_id == table_id
    assert result.error.offset == 1
    assert result.updates == []
    assert result.undecoded == 1


@pytest.mark.parametrize("version", ["3.0.29", "4.1.3"])
def test_hints_decode_to_upgrade_test_hash_and_reencode_exactly(commitlog_fixtures: Path, version: str) -> None:
    from cassandra_cdc.commitlog.hints import HintEntry, read_hints

    directory = commitlog_fixtures / "hints" / version
    expected = read_hash_file(directory)
    table_id = uuid.UUID(expected["cfid"])
    schema = fixture_schema(table_id, with_system_tables=False)
    decoder = MutationDecoder(schema)
    encoder = MutationEncoder(schema)
    cells = 0
    hash_value = 0
    entries = 0
    for path in directory.glob("*.hints"):
        for entry in read_hints(path):
            assert isinstance(entry, HintEntry), str(entry)
            result = decoder.decode(entry.data, entry.messaging_version)
            assert result.complete, f"{path.name}: {result.error}"
            for update in result.updates:
                for row in update.rows:
                    first = row.clustering[0] if row.clustering else None
                    if first is not None and first.decode("ascii").startswith("name"):
                        for cell in row.cells:
                            hash_value = upgrade_test_hash(hash_value, cell.value)
                            cells += 1
            assert encoder.encode(Mutation(result.decoded), entry.messaging_version) == entry.data
            entries += 1
    assert entries > 0
    assert cells == int(expected["cells"])
    assert hash_value == int(expected["hash"])


def test_truncation_records_of_real_system_local_writes(commitlog_fixtures: Path) -> None:
    from cassandra_cdc.commitlog.mutation_decoder import truncation_records
    from cassandra_cdc.schema.system_tables import system_table_id

    directory = commitlog_fixtures / "4.0.11-encrypted"
    schema = fixture_schema(uuid.UUID(read_hash_file(directory)["cfid"]))
    decoder = MutationDecoder(schema)
    truncated: list[uuid.UUID] = []
    local_updates = 0
    for entry in read_segment(next(directory.glob("*.log"))):
        assert isinstance(entry, RawEntry)
        for signal in decoder.decode(entry.data, entry.messaging_version).signals:
            if signal.table_id == system_table_id("system", "local"):
                assert signal.kind == "system" and signal.update is not None
                local_updates += 1
                truncated.extend(table_id for table_id, _ in truncation_records(signal.update))
    # The upgrade-test maker truncates nothing: system.local writes here are node metadata only.
    assert local_updates == 2
    assert truncated == []


def test_truncation_record_round_trips_through_system_local() -> None:
    from cassandra_cdc.commitlog.model import Cell, PartitionUpdate, Row
    from cassandra_cdc.commitlog.mutation_decoder import truncation_records
    from cassandra_cdc.schema.system_tables import system_table_id

    local_id = system_table_id("system", "local")
    schema = fixture_schema(uuid.uuid4())
    truncated = uuid.UUID(int=99)
    cell = Cell("truncated_at", 1_700_000_000_000_000, b"\x00" * 20, path=truncated.bytes)
    update = PartitionUpdate(local_id, b"local", unfiltereds=[Row((), cells=[cell])])
    data = MutationEncoder(schema).encode(Mutation([update]), 12)
    result = MutationDecoder(schema).decode(data, 12)
    assert [s.kind for s in result.signals] == ["truncate"]
    assert result.signals[0].update is not None
    assert truncation_records(result.signals[0].update) == [(truncated, cell)]
    # Without system.local's schema the header's column names still tell a TRUNCATE record.
    blind = MutationDecoder(fixture_schema(uuid.uuid4(), with_system_tables=False)).decode(data, 12)
    assert [(s.kind, s.update) for s in blind.signals] == [("truncate", None)]
