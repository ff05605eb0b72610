"""vault: references resolved against a real Vault-API server (OpenBao dev mode), KV v2 and v1."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest

from cassandra_cdc.config import ConfigError, load_config
from cassandra_cdc.config.model import PostgresSinkSettings
from cassandra_cdc.simulator.schemas import BENCHMARK_CQL
from tests.config.conftest import BaoServer

TEMPLATE = """\
sources: {{node1: {{cdc_raw: raw}}}}
schema: {{cql: schema.cql}}
sinks:
  warehouse:
    type: postgres
    dsn: postgresql://cdc:${{vault:secret/data/cdc#pg_password}}@localhost/db
    positions_schema: {positions}
secrets:
  pepper: vault:secret/data/cdc#pepper
  legacy: ${{vault:kv1/cdc#token}}
vault:
  address: {address}
{auth}
"""


@pytest.fixture(scope="module")
def secrets_written(bao_server: BaoServer) -> BaoServer:
    client = hvac.Client(url=bao_server.address, token=bao_server.token)
    client.secrets.kv.v2.create_or_update_secret(
        path="cdc", secret={"pg_password": "p@ss", "pepper": "0123456789abcdef0123", "schema": "cdc_positions"}
    )
    client.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    client.secrets.kv.v1.create_or_update_secret(path="cdc", secret={"token": "v1-value"}, mount_point="kv1")
    return bao_server


def _config(tmp_path: Path, server: BaoServer, auth: str, positions: str = "public") -> Path:
    (tmp_path / "raw").mkdir(exist_ok=True)
    (tmp_path / "schema.cql").write_text(BENCHMARK_CQL)
    path = tmp_path / "pipeline.yaml"
    path.write_text(TEMPLATE.format(address=server.address, auth=auth, positions=positions))
    return path


def test_vault_references_resolve_from_kv2_and_kv1(tmp_path: Path, secrets_written: BaoServer) -> None:
    path = _config(tmp_path, secrets_written, f"  token: {secrets_written.token}", "vault:secret/data/cdc#schema")
    config = load_config(path, environ={})
    sink = config.sinks["warehouse"]
    assert isinstance(sink, PostgresSinkSettings)
    assert sink.dsn.get_secret_value() == "postgresql://cdc:p@ss@localhost/db"
    assert sink.positions_schema == "cdc_positions"
    assert config.secrets["pepper"].get_secret_value() == "0123456789abcdef0123"
    assert config.secrets["legacy"].get_secret_value() == "v1-value"


def test_vault_token_from_environment_file_or_token_file(tmp_path: Path, secrets_written: BaoServer) -> None:
    path = _config(tmp_path, secrets_written, "  token: ${env:MY_TOKEN}")
    assert load_config(path, environ={"MY_TOKEN": secrets_written.token}).secrets["legacy"].get_secret_value()
    path = _config(tmp_path, secrets_written, "")
    config = load_config(path, environ={"VAULT_TOKEN": secrets_written.token})
    assert config.secrets["pepper"].get_secret_value() == "0123456789abcdef0123"
    (tmp_path / "token").write_text(secrets_written.token + "\n")
    path = _config(tmp_path, secrets_written, "  token_file: token")
    assert load_config(path, environ={}).secrets["legacy"].get_secret_value() == "v1-value"


def test_vault_errors_name_the_field(tmp_path: Path, secrets_written: BaoServer) -> None:
    path = _config(tmp_path, secrets_written, "  token: wrong-token")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    messages = caught.value.messages
    assert any(
        m.startswith(
            f"{path}:6: sinks.warehouse.dsn: Vault at {secrets_written.address}: cannot read secret/data/cdc: Forbidden"
        )
        for m in messages
    ), messages
    text = path.read_text().replace("#pg_password", "#nope").replace("wrong-token", secrets_written.token)
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.messages == [
        f"{path}:6: sinks.warehouse.dsn: Vault secret secret/data/cdc has no key 'nope' "
        "(keys: pepper, pg_password, schema)"
    ]
