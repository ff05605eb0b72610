"""A throwaway PostgreSQL cluster from the Debian packages, on a free loopback port, for sink tests.

The cluster lives in ``<data_dir>/pgdata``; the postmaster is our child process (so stop, crash
and restart are plain signals) and listens on 127.0.0.1 only, with no Unix socket, so it never
meets the machine's own PostgreSQL. As root, initdb and postgres run as the ``postgres`` OS user
(PostgreSQL refuses root); as any other user they run as that user.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

from cassandra_cdc.servers.managed import ManagedServer
from cassandra_cdc.servers.ports import ServerError

PG_BIN_ENV = "CASSANDRA_CDC_PG_BIN"
PREFERRED_MAJOR = 15
_STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def find_pg_bin(preferred_major: int = PREFERRED_MAJOR) -> Path:
    """The bin directory holding initdb and postgres: $CASSANDRA_CDC_PG_BIN, else Debian's layout.

    Debian installs each major under /usr/lib/postgresql/<major>/bin; the preferred major wins,
    else the newest present. Raises ServerError naming the install script if none is found.
    """
    override = os.environ.get(PG_BIN_ENV)
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override))
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        majors = sorted(
            (int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / "bin" / "initdb").is_file()),
            key=lambda m: (m != preferred_major, -m),
        )
        candidates.extend(root / str(m) / "bin" for m in majors)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    raise ServerError(
        "PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin "
        f"nor ${PG_BIN_ENV}; run scripts/install-servers (installs Debian's postgresql-{preferred_major})"
    )


class PostgresServer(ManagedServer):
    """A private PostgreSQL cluster: ``with PostgresServer() as pg: psycopg.connect(pg.dsn)``.

    ``fsync=False`` (the default) trades crash safety of the host for speed; a SIGKILL of the
    server (kill()) still loses no acknowledged commit, since the OS keeps the written WAL.
    ``password`` None means trust authentication on loopback, else scram-sha-256 with it.
    """

    name = "postgres"

    def __init__(
        self,
        data_dir: str | Path | None = None,
        port: int | None = None,
        *,
        user: str = "postgres",
        password: str | None = None,
        database: str = "postgres",
        fsync: bool = False,
        bin_dir: str | Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        self.bin_dir = Path(bin_dir) if bin_dir is not None else find_pg_bin()
        self.user = user
        self.password = password
        self.database = database
        self.fsync = fsync
        self.settings = dict(settings or {})
        self._os_user = _run_as_user()

    @property
    def cluster_dir(self) -> Path:
        """PostgreSQL's data directory (PGDATA), owned by the user the server runs as."""
        return self.data_dir / "pgdata"

    @property
    def dsn(self) -> str:
        """A libpq URL for psycopg and any other libpq client."""
        auth = self.user if self.password is None else f"{self.user}:{self.password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.database}"

    def _prepare(self) -> None:
        if (self.cluster_dir / "PG_VERSION").is_file():
            return
        self._check_reachable()
        self.cluster_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_dir.chmod(0o700)
        if self._os_user is not None:
            os.chown(self.cluster_dir, self._os_user.pw_uid, self._os_user.pw_gid)
        command = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.cluster_dir),
            "-U",
            self.user,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        pwfile: Path | None = None
        if self.password is None:
            command.append("--auth=trust")
        else:
            pwfile = self.data_dir / "initdb.pw"
            pwfile.write_text(self.password + "\n", encoding="utf-8")
            if self._os_user is not None:
                os.chown(pwfile, self._os_user.pw_uid, self._os_user.pw_gid)
            command += ["--auth-host=scram-sha-256", "--auth-local=trust", f"--pwfile={pwfile}"]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=120, check=False, **self._popen_kwargs()
            )
        finally:
            if pwfile is not None:
                pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServerError(
                f"initdb for {self.cluster_dir} failed (exit {result.returncode}):\n{result.stderr.strip()}"
            )
        if self.database != "postgres":
            self._create_database_on_first_start = True

    def _check_reachable(self) -> None:
        """As root, every parent of the data directory must be enterable by the server's OS user."""
        if self._os_user is None:
            return
        for parent in [self.data_dir, *self.data_dir.parents]:
            info = parent.stat()
            if info.st_uid == self._os_user.pw_uid:
                continue
            if not info.st_mode & stat.S_IXOTH:
                raise ServerError(
                    f"{parent} is not enterable by the '{self._os_user.pw_name}' user PostgreSQL runs as "
                    f"(mode {stat.filemode(info.st_mode)}); choose a data_dir under a world-enterable path"
                )

    _create_database_on_first_start = False

    def _command(self) -> list[str]:
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": "",  # TCP only: no clash with the machine's server socket
            "fsync": "on" if self.fsync else "off",
            # Always on: a commit is written to the WAL before it is acknowledged, so kill() loses
            # nothing a client saw committed (with fsync off the OS page cache keeps it).
            "synchronous_commit": "on",
            "full_page_writes": "on" if self.fsync else "off",
            "shared_buffers": "32MB",
            "max_connections": "50",
            "logging_collector": "off",
            **self.settings,
        }
        command = [str(self.bin_dir / "postgres"), "-D", str(self.cluster_dir)]
        for key, value in options.items():
            command += ["-c", f"{key}={value}"]
        return command

    def _popen_kwargs(self) -> dict[str, Any]:
        if self._os_user is None:
            return {}
        # Drop to the postgres user in the child before exec: the server is still our direct child.
        return {
            "user": self._os_user.pw_uid,
            "group": self._os_user.pw_gid,
            "extra_groups": [],
            "cwd": "/",
        }

    def _is_ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-t", "1"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def start(self) -> PostgresServer:
        super().start()
        if self._create_database_on_first_start:
            self._create_database_on_first_start = False
            self.psql(f'CREATE DATABASE "{self.database}"', database="postgres")
        return self

    def _stop_signal(self, mode: str) -> signal.Signals:
        try:
            return _STOP_SIGNALS[mode]
        except KeyError:
            raise ValueError(f"postgres: unknown stop mode {mode!r} (use one of {sorted(_STOP_SIGNALS)})") from None

    def psql(self, sql: str, *, database: str | None = None) -> str:
        """Run ``sql`` with the psql client (no Python driver needed); returns its unaligned output."""
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        command = [
            str(self.bin_dir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            database or self.database,
            "-c",
            sql,
        ]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
        if result.returncode != 0:
            raise ServerError(f"psql on port {self.port} failed: {result.stderr.strip()}")
        return result.stdout


def _run_as_user() -> pwd.struct_passwd | None:
    """The OS user the server must run as: 'postgres' when we are root, else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServerError(
            "running as root but there is no 'postgres' OS user to run PostgreSQL as; "
            "run scripts/install-servers (Debian's postgresql package creates it)"
        ) from None
