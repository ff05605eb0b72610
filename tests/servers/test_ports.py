"""The port and process helpers the test servers rely on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cassandra_cdc.servers.ports import (
    ProcessReaper,
    ServerError,
    free_port,
    port_is_open,
    wait_for_port,
    wait_until,
)


def test_free_port_is_bindable_and_closed() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    assert not port_is_open(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert port_is_open(port)
        wait_for_port(port, timeout=1.0)


def test_wait_for_port_times_out_with_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(ServerError, match=r"not ready after 0\.3 s"):
        wait_for_port(free_port(), timeout=0.3)
    assert time.monotonic() - started < 2.0


def test_wait_until_reports_a_dead_process() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(ServerError, match="exited with code 3"):
        wait_until(lambda: False, timeout=5.0, what="test", process=process)


def test_reaper_kills_registered_process_groups() -> None:
    reaper = ProcessReaper()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    reaper.register(process)
    reaper.kill_all()
    assert process.poll() is not None
    assert process.returncode < 0  # killed by a signal


def test_reaper_removes_registered_dirs(tmp_path: Path) -> None:
    reaper = ProcessReaper()
    doomed = tmp_path / "server-data"
    (doomed / "sub").mkdir(parents=True)
    reaper.register_dir(doomed)
    reaper.kill_all()
    assert not doomed.exists()


def test_unclosed_server_is_reaped_at_exit(tmp_path: Path) -> None:
    # A child interpreter starts a worker and exits without closing it: the worker must die with it.
    script = (
        "from cassandra_cdc.servers.clickhouse import ClickHouseWorker\n"
        "w = ClickHouseWorker().start()\n"
        "print(w.pid, w.data_dir, flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    pid_text, data_dir = result.stdout.split()
    pid = int(pid_text)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)
    assert not Path(data_dir).exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits to be collected by its (gone) parent's reaper, init.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
