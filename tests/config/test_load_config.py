"""Loading pipeline.yaml: merging with .env and CDC_* variables, secret references, errors naming field and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cassandra_cdc.config import ConfigError, load_config
from cassandra_cdc.config.model import ClickHouseSinkSettings, PostgresSinkSettings, TimescaleSinkSettings
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL

BASE = """\
sources:
  node1:
    cdc_raw: raw1
schema:
  cql: schema.cql
sinks:
  warehouse:
    type: postgres
    dsn: postgresql://cdc@localhost/db
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "raw1").mkdir()
    (tmp_path / "raw2").mkdir()
    (tmp_path / "schema.cql").write_text(BENCHMARK_CQL)
    return tmp_path


def _write(directory: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def _errors(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=kwargs.pop("environ", {}), **kwargs)  # type: ignore[arg-type]
    return caught.value.messages


def test_minimal_file_gets_defaults_and_paths_relative_to_the_file(workdir: Path) -> None:
    config = load_config(_write(workdir, BASE), environ={})
    assert config.sources["node1"].cdc_raw == workdir / "raw1"
    assert config.schema_.cql == workdir / "schema.cql"
    sink = config.sinks["warehouse"]
    assert isinstance(sink, PostgresSinkSettings)
    assert sink.dsn.get_secret_value() == "postgresql://cdc@localhost/db"
    assert "cdc@localhost" not in repr(config)  # DSNs are secret: never printed whole
    assert config.sink_batch_size("warehouse") == 5000
    assert config.retry.attempts == 10 and config.retention.mode == "delete"
    assert config.tables.include == []


def test_full_example_file_is_valid(workdir: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "pipeline.yaml"
    text = example.read_text()
    environ = {
        "KEYSTORE_PASSWORD": "k",
        "PG_PASSWORD": "pw",
        "TSDB_PASSWORD": "pw2",
        "CH_PASSWORD": "pw3",
        "MASKING_PEPPER": "p" * 32,
        "CDC_DLQ_KEY": "00" * 32,
    }
    config = load_config(_write(workdir, text), environ=environ, check_paths=False)
    assert config.dead_letter.active_key == "k1" and config.dead_letter.keys["k1"].get_secret_value() == "00" * 32
    kinds = {name: type(s) for name, s in config.sinks.items()}
    assert kinds == {
        "warehouse": PostgresSinkSettings,
        "metrics": TimescaleSinkSettings,
        "olap": ClickHouseSinkSettings,
    }


def test_errors_name_file_line_and_field(workdir: Path) -> None:
    text = BASE + "    batch_size: 0\n    flush_interval: -1\nretry:\n  cap: 0.1\n"
    path = _write(workdir, text)
    messages = _errors(path)
    assert f"{path}:10: sinks.warehouse.batch_size: must be > 0 (got 0)" in messages
    assert f"{path}:11: sinks.warehouse.flush_interval: must be > 0.0 (got -1)" in messages
    assert f"{path}:12: retry: cap (0.1) must be >= base (0.5)" in messages


def test_unknown_settings_wrong_types_and_missing_fields(workdir: Path) -> None:
    text = """\
sources:
  node1: {cdc_raw: raw1}
schema: {cql: schema.cql, rows: rows.json}
sinks:
  warehouse: {type: postgres, dsn: x, batchsize: 10}
  olap: {type: clickhuose, url: x}
  bad-name: {type: clickhouse, url: x}
  lake: {type: clickhouse}
observability: {log_level: LOUD}
"""
    path = _write(workdir, text)
    messages = _errors(path)
    assert f"{path}:5: sinks.warehouse.batchsize: unknown setting (did you mean 'batch_size'?)" in messages
    assert f"{path}:6: sinks.olap.type: must be one of postgres, timescaledb, clickhouse (got 'clickhuose')" in messages
    assert any(m.startswith(f"{path}:7: sinks.bad-name: name must be letters") for m in messages)
    assert f"{path}:8: sinks.lake.url: required" in messages
    assert f"{path}:3: schema: give exactly one of cql, rows, cluster (got cql, rows)" in messages
    assert any(m.startswith(f"{path}:9: observability.log_level: must be 'DEBUG'") for m in messages)


def test_missing_sections_and_paths(workdir: Path) -> None:
    path = _write(workdir, "schema: {cql: nowhere.cql}\n")
    messages = _errors(path)
    assert f"{path}: sources: required" in messages
    assert f"{path}: sinks: required" in messages
    path = _write(workdir, BASE.replace("raw1", "missing").replace("schema.cql", "nowhere.cql"))
    messages = _errors(path)
    assert f"{path}:3: sources.node1.cdc_raw: {workdir / 'missing'} is not a directory" in messages
    assert f"{path}:5: schema.cql: {workdir / 'nowhere.cql'}: no such file or directory" in messages


def test_yaml_syntax_error_names_the_line(workdir: Path) -> None:
    path = _write(workdir, "sources:\n  node1: [\n")
    (message,) = _errors(path)
    assert message.startswith(f"{path}:3: not valid YAML")
    assert _errors(workdir / "absent.yaml") == [f"{workdir / 'absent.yaml'}: no such file"]


def test_environment_overrides_nested_values_case_insensitively(workdir: Path) -> None:
    text = BASE.replace("node1:", "Node1:")
    environ = {
        "CDC_SINKS__WAREHOUSE__BATCH_SIZE": "250",
        "CDC_SINKS__WAREHOUSE__DSN": "postgresql://other/db",
        "CDC_SOURCES__NODE1__CDC_RAW": str(workdir / "raw2"),
        "CDC_SINKS__OLAP__TYPE": "clickhouse",
        "CDC_SINKS__OLAP__URL": "http://localhost:8123",
        "CDC_TABLES__INCLUDE": '["shop.users", "shop.orders"]',
        "CDC_RETRY__ATTEMPTS": "3",
        "CDC_FAILPOINT": "not_a_setting:1",  # other CDC_ variables are not settings
    }
    config = load_config(_write(workdir, text), environ=environ)
    assert list(config.sources) == ["Node1"]  # the file's spelling is kept (it is the node's identity)
    assert config.sources["Node1"].cdc_raw == workdir / "raw2"
    warehouse = config.sinks["warehouse"]
    assert warehouse.batch_size == 250
    assert isinstance(warehouse, PostgresSinkSettings)
    assert warehouse.dsn.get_secret_value() == "postgresql://other/db"
    assert isinstance(config.sinks["olap"], ClickHouseSinkSettings)
    assert config.tables.include == ["shop.users", "shop.orders"]
    assert config.retry.attempts == 3


def test_error_in_an_environment_value_names_the_variable(workdir: Path) -> None:
    path = _write(workdir, BASE)
    messages = _errors(path, environ={"CDC_SINKS__WAREHOUSE__BATCH_SIZE": "-5"})
    assert messages == [
        f"{path}: sinks.warehouse.batch_size: must be > 0 "
        "(set by environment variable CDC_SINKS__WAREHOUSE__BATCH_SIZE)"
    ]


def test_dotenv_file_below_environment_above_file(workdir: Path) -> None:
    text = BASE.replace("postgresql://cdc@localhost/db", "postgresql://cdc:${env:PG_PASSWORD}@localhost/db")
    (workdir / ".env").write_text(
        "# comment\nPG_PASSWORD=from-dotenv\nCDC_SINKS__WAREHOUSE__BATCH_SIZE=123\nCDC_RETRY__ATTEMPTS=4\n"
    )
    config = load_config(_write(workdir, text), environ={"CDC_RETRY__ATTEMPTS": "7"})
    warehouse = config.sinks["warehouse"]
    assert isinstance(warehouse, PostgresSinkSettings)
    assert warehouse.dsn.get_secret_value() == "postgresql://cdc:from-dotenv@localhost/db"
    assert warehouse.batch_size == 123
    assert config.retry.attempts == 7  # the environment wins over .env
    # The real environment wins over .env for ${env:} too.
    config = load_config(workdir / "pipeline.yaml", environ={"PG_PASSWORD": "from-env"})
    assert isinstance(config.sinks["warehouse"], PostgresSinkSettings)
    assert config.sinks["warehouse"].dsn.get_secret_value() == "postgresql://cdc:from-env@localhost/db"
    # An explicit env file; an error in it names the file and line.
    other = workdir / "other.env"
    other.write_text("PG_PASSWORD=x\n\nCDC_SINKS__WAREHOUSE__BATCH_SIZE=0\n")
    messages = _errors(workdir / "pipeline.yaml", env_file=other)
    assert messages == [
        f"{workdir / 'pipeline.yaml'}: sinks.warehouse.batch_size: must be > 0 (set in {other} (line 3))"
    ]


def test_secret_references_env_file_and_errors(workdir: Path) -> None:
    secret = workdir / "pg_password"
    secret.write_text("s3cret\n")
    text = BASE.replace(
        "postgresql://cdc@localhost/db", f"postgresql://${{env:PG_USER}}:${{file:{secret}}}@localhost/db?x=$${{y}}"
    )
    config = load_config(_write(workdir, text), environ={"PG_USER": "cdc"})
    sink = config.sinks["warehouse"]
    assert isinstance(sink, PostgresSinkSettings)
    assert sink.dsn.get_secret_value() == "postgresql://cdc:s3cret@localhost/db?x=${y}"
    path = workdir / "pipeline.yaml"
    messages = _errors(path)
    assert messages == [
        f"{path}:9: sinks.warehouse.dsn: environment variable PG_USER is not set (nor in the .env file)"
    ]
    text = BASE.replace("postgresql://cdc@localhost/db", "vault:secret/data/cdc#pg")
    messages = _errors(_write(workdir, text), environ={})
    assert messages == [f"{path}:9: sinks.warehouse.dsn: no Vault address: set vault.address or VAULT_ADDR"]


def test_sources_as_a_list_with_node_ids(workdir: Path) -> None:
    text = """\
sources:
  - node_id: 10.0.0.1
    cdc_raw: raw1
  - node_id: 10.0.0.2
    cdc_raw: raw2
    mode: indexed
schema: {cql: schema.cql}
sinks: {warehouse: {type: postgres, dsn: x}}
"""
    config = load_config(_write(workdir, text), environ={})
    assert list(config.sources) == ["10.0.0.1", "10.0.0.2"]
    assert config.sources["10.0.0.2"].mode == "indexed"
    path = _write(workdir, text.replace("mode: indexed", "mode: sideways"))
    (message,) = _errors(path)
    assert message.startswith(f"{path}:6: sources.10.0.0.2.mode: must be 'auto', 'indexed' or 'legacy'")


def test_encryption_and_retention_cross_field_rules(workdir: Path) -> None:
    text = (
        BASE.replace("    cdc_raw: raw1\n", "    cdc_raw: raw1\n    encryption: {keystore: ks.jceks}\n")
        + "retention: {mode: archive}\n"
    )
    path = _write(workdir, text)
    messages = _errors(path)
    assert f"{path}:4: sources.node1.encryption: keystore needs keystore_password and key_alias" in messages
    assert f"{path}:11: retention: mode 'archive' needs archive_dir" in messages
