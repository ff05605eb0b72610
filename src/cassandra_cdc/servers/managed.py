"""The lifecycle shared by the test servers: one child process on a fixed loopback port, with a log file.

A subclass says how to prepare its directory, which command to run, how to tell it is ready and
which signal stops it; this class starts, stops, kills and restarts that process, always on the
same port, so a client's DSN stays valid across restarts (an outage is the process gone).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cassandra_cdc.servers.ports import (
    LOOPBACK,
    REAPER,
    ServerError,
    free_port,
    log_tail,
    signal_group,
    wait_exit,
    wait_for_port_closed,
    wait_until,
)


class ManagedServer(ABC):
    """A server process owned by this object. Use as a context manager, or call start() and close().

    ``data_dir`` None means a fresh temporary directory, deleted by close(); a given directory is
    kept. ``port`` None means a free loopback port chosen once, kept across restarts.
    """

    name = "server"
    start_timeout = 60.0
    stop_timeout = 30.0

    def __init__(self, data_dir: str | Path | None = None, port: int | None = None) -> None:
        self._owns_dir = data_dir is None
        if data_dir is None:
            base = Path(tempfile.mkdtemp(prefix=f"cassandra-cdc-{self.name}-"))
            # Servers that drop privileges (PostgreSQL as 'postgres') must be able to enter it.
            base.chmod(0o755)
            data_dir = base
        self.data_dir = Path(data_dir).resolve()
        if self._owns_dir:
            REAPER.register_dir(self.data_dir)  # removed at exit even if close() is never called
        self.host = LOOPBACK
        self.port = port if port is not None else free_port(self.host)
        self._process: subprocess.Popen[bytes] | None = None

    # -- what a subclass provides -------------------------------------------------------------

    @abstractmethod
    def _prepare(self) -> None:
        """Create or check what the server needs on disk before it starts (runs before every start)."""

    @abstractmethod
    def _command(self) -> list[str]:
        """The command line of the server process."""

    @abstractmethod
    def _is_ready(self) -> bool:
        """Whether the running server accepts clients now."""

    def _stop_signal(self, mode: str) -> signal.Signals:
        """The signal for a graceful stop in ``mode``; subclasses with several modes override."""
        if mode not in ("fast", "smart"):
            raise ValueError(f"{self.name}: unknown stop mode {mode!r}")
        return signal.SIGTERM

    def _popen_kwargs(self) -> dict[str, Any]:
        """Extra subprocess.Popen arguments (user, env, cwd)."""
        return {}

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go (appended across restarts)."""
        return self.data_dir / f"{self.name}.log"

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server process id while it runs, else None."""
        return self._process.pid if self.is_running and self._process is not None else None

    def start(self) -> Self:
        """Start the server and wait until it accepts clients; raise ServerError (with its log) if it can't."""
        if self.is_running:
            raise ServerError(f"{self.name} on port {self.port} is already running")
        self._prepare()
        command = self._command()
        with self.log_path.open("ab") as log:
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: kill() takes all its children
                    **self._popen_kwargs(),
                )
            except OSError as exc:
                raise ServerError(f"{self.name}: cannot run {command[0]}: {exc}") from exc
        REAPER.register(process)
        self._process = process
        try:
            self._wait_ready(process)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        wait_until(
            self._is_ready,
            timeout=self.start_timeout,
            what=f"starting {self.name} on {self.host}:{self.port}",
            process=process,
            log_path=self.log_path,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop gracefully (``mode`` as the server understands it); SIGKILL if it does not stop in time."""
        process = self._process
        if process is None or process.poll() is not None:
            self._forget()
            return
        sig = self._stop_signal(mode)
        process.send_signal(sig)
        if not wait_exit(process, self.stop_timeout):
            self.kill()
            raise ServerError(
                f"{self.name} did not stop within {self.stop_timeout:.0f} s of {sig.name}; killed it"
                f"{log_tail(self.log_path)}"
            )
        # Left-over children (none for a clean stop) must not keep the port.
        signal_group(process, signal.SIGKILL)
        self._forget()
        wait_for_port_closed(self.port, host=self.host)

    def kill(self) -> None:
        """SIGKILL the server's whole process group, as a crash would: nothing is flushed."""
        process = self._process
        if process is None:
            return
        signal_group(process, signal.SIGKILL)
        wait_exit(process, 10.0)
        self._forget()
        wait_for_port_closed(self.port, host=self.host)

    def restart(self, mode: str = "fast") -> Self:
        """Stop (gracefully, in ``mode``) and start again on the same port with the same data."""
        self.stop(mode)
        return self.start()

    def close(self) -> None:
        """Stop the server if it runs and delete its directory if this object created it."""
        try:
            if self.is_running:
                self.stop()
        finally:
            self._forget()
            if self._owns_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                REAPER.forget_dir(self.data_dir)

    def _forget(self) -> None:
        if self._process is not None:
            REAPER.forget(self._process)
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"{type(self).__name__}({str(self.data_dir)!r}, port={self.port}, {state})"
