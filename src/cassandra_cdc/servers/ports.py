"""Loopback ports and child processes for the test servers: pick a free port, wait for it, never leak.

Every server process started by this package is registered with :data:`REAPER`, whose ``atexit``
hook kills what is still running when the interpreter exits, so an aborted test run leaves no
server behind. The reaper is the one process-wide registry here: ``atexit`` needs one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A test server could not be installed, started, stopped or reached; the message says which and why."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``ready`` until it returns True; raise :class:`ServerError` on timeout or if ``process`` dies.

    The error quotes the tail of ``log_path`` so a failed start explains itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if process is not None and process.poll() is not None:
            raise ServerError(
                f"{what}: process {process.pid} exited with code {process.returncode}{log_tail(log_path)}"
            )
        if time.monotonic() >= deadline:
            raise ServerError(f"{what}: not ready after {timeout:.1f} s{log_tail(log_path)}")
        time.sleep(interval)


def wait_for_port(
    port: int,
    *,
    host: str = LOOPBACK,
    timeout: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Wait until ``host:port`` accepts connections (see :func:`wait_until`)."""
    wait_until(
        lambda: port_is_open(port, host),
        timeout=timeout,
        what=f"waiting for {host}:{port}",
        process=process,
        log_path=log_path,
    )


def wait_for_port_closed(port: int, *, host: str = LOOPBACK, timeout: float = 10.0) -> None:
    """Wait until nothing accepts connections on ``host:port`` any more."""
    wait_until(lambda: not port_is_open(port, host), timeout=timeout, what=f"waiting for {host}:{port} to close")


def log_tail(path: Path | None, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, formatted to append to an error message ('' if none)."""
    if path is None or not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    if not text:
        return ""
    return f"\n--- last lines of {path} ---\n" + "\n".join(text)


def signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` to the process group led by ``process`` (started with ``start_new_session=True``).

    Signalling the whole group takes the server's own children with it, as a machine crash would.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def wait_exit(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``process`` to exit; True if it did."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


class ProcessReaper:
    """At interpreter exit, kills registered server processes (whole groups) still alive, then
    deletes registered temporary directories."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._dirs: set[Path] = set()
        atexit.register(self.kill_all)

    def register_dir(self, path: Path) -> None:
        with self._lock:
            self._dirs.add(path)

    def forget_dir(self, path: Path) -> None:
        with self._lock:
            self._dirs.discard(path)

    def register(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes[process.pid] = process

    def forget(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes.pop(process.pid, None)

    def kill_all(self) -> None:
        with self._lock:
            processes = list(self._processes.values())
            self._processes.clear()
        for process in processes:
            if process.poll() is None:
                signal_group(process, signal.SIGKILL)
                wait_exit(process, 5.0)
        with self._lock:
            dirs = list(self._dirs)
            self._dirs.clear()
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)


REAPER = ProcessReaper()
