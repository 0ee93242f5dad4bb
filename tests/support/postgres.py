"""A real, throwaway PostgreSQL server for the tests, started with initdb and pg_ctl.

pytest-postgresql does not fit: initdb refuses to run as root, which is how CI runs. So as
root the cluster belongs to Debian's `postgres` system user and every command runs as it.
Without the binaries the fixtures (postgres_server, postgres_url in conftest.py) skip, unless
CI=true or DOORSTEP_REQUIRE_POSTGRES=1, where a missing install is a failure
(`python3 scripts/dev.py system-deps` installs it).
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.support.processes import free_port

USER = "doorstep"
START_TIMEOUT = 60  # seconds; pg_ctl -w polls the server until it accepts connections
START_ATTEMPTS = 3  # free_port() can race another process for the port
# Durability is worthless for a cluster deleted after the run, and costs start-up and test time.
FAST_SETTINGS = "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
DEBIAN_ROOT = Path("/usr/lib/postgresql")


def find_pg_bin() -> Path | None:
    """Return the directory holding initdb and pg_ctl (newest Debian version first), or None."""
    debian = [
        path / "bin"
        for path in (DEBIAN_ROOT.iterdir() if DEBIAN_ROOT.is_dir() else [])
        if path.name.isdigit()
    ]
    for bin_dir in sorted(debian, key=lambda b: int(b.parent.name), reverse=True):
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def require_postgres() -> bool:
    """Whether a missing PostgreSQL install fails the tests instead of skipping them."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("DOORSTEP_REQUIRE_POSTGRES") == "1"
    )


def pg_bin_or_skip() -> Path:
    """Return find_pg_bin(); when missing, skip, or fail where require_postgres() says so."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        reason = (
            "PostgreSQL's initdb and pg_ctl are missing "
            "(run `python3 scripts/dev.py system-deps` to install Debian's postgresql)"
        )
        if require_postgres():
            pytest.fail(reason + " and CI=true or DOORSTEP_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(reason)
    return bin_dir


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, on 127.0.0.1 and a free port."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        bin_dir = bin_dir or find_pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL's initdb and pg_ctl are not installed")
        self.bin_dir: Path = bin_dir
        self.host = "127.0.0.1"
        self.port = 0
        self.base_dir: Path | None = None
        self._running = False
        self._names = itertools.count(1)

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self._base() / "data"

    @property
    def log_file(self) -> Path:
        """The server's log, which start() quotes when the server does not come up."""
        return self._base() / "postgres.log"

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; return self once it accepts connections."""
        if self._running:
            return self
        # Not under pytest's tmp dirs: as root those are 0700, out of the postgres user's reach.
        self.base_dir = Path(tempfile.mkdtemp(prefix="doorstep-pg-"))
        try:
            if _is_root():
                _chown_to_postgres(self.base_dir)
            self._initdb()
            self._start_server()
        except BaseException:
            # A server that came up too late to count (or a half-started one) must not outlive us.
            if (self.data_dir / "postmaster.pid").exists():
                self._run(self._pg_ctl("stop", "-m", "immediate", "-w"))
            self._remove_base_dir()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (closing any open connections) and delete the cluster."""
        if self._running:
            self._running = False
            self._check(self._pg_ctl("stop", "-m", "fast", "-w"), "pg_ctl stop")
        self._remove_base_dir()

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, database: str) -> str:
        """Return the SQLAlchemy URL of `database` on this server."""
        return f"postgresql+psycopg://{USER}@{self.host}:{self.port}/{database}"

    def new_database(self, name_hint: str = "test") -> str:
        """Create a fresh, empty database and return its SQLAlchemy URL."""
        slug = re.sub(r"[^a-z0-9]+", "_", name_hint.lower()).strip("_")[:40] or "test"
        name = f"{slug}_{next(self._names)}"  # the counter alone keeps names unique per server
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, ending connections a test left open."""
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _connect(self) -> psycopg.Connection:
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )

    def _initdb(self) -> None:
        initdb = [
            str(self.bin_dir / "initdb"),
            *("-D", str(self.data_dir), "-A", "trust", "-U", USER),
            *("--encoding", "UTF8", "--locale", "C"),
            "--no-sync",  # nothing survives the run, so skip the fsyncs
            "--no-instructions",
        ]
        self._check(initdb, "initdb")

    def _start_server(self) -> None:
        socket_dir = self._base()  # a short path: unix socket paths are limited to ~100 bytes
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = free_port()
            options = (
                f"{FAST_SETTINGS} -c listen_addresses={self.host} -p {self.port} -k {socket_dir}"
            )
            result = self._run(
                self._pg_ctl(
                    "start", "-w", "-t", str(START_TIMEOUT), "-l", str(self.log_file), "-o", options
                )
            )
            if result.returncode == 0:
                self._running = True
                return
            log = self._log_tail()
            if attempt == START_ATTEMPTS or "could not bind" not in log:
                raise RuntimeError(
                    f"PostgreSQL did not start on port {self.port}: {_output(result)}\n"
                    f"--- last lines of the server log (deleted with the cluster) ---\n{log}"
                )

    def _pg_ctl(self, *args: str) -> list[str]:
        return [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args]

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        # cwd: as root the commands run as postgres, which may not be allowed into ours.
        return subprocess.run(
            _as_cluster_owner(command),
            cwd=self._base(),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT + 30,
            check=False,
        )

    def _check(self, command: list[str], what: str) -> None:
        result = self._run(command)
        if result.returncode != 0:
            raise RuntimeError(f"{what} failed: {_output(result)}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _base(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("the server has not been started")
        return self.base_dir

    def _remove_base_dir(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _chown_to_postgres(path: Path) -> None:
    try:
        shutil.chown(path, user="postgres", group="postgres")
    except LookupError as error:
        raise RuntimeError(
            "running as root needs the `postgres` system user, which Debian's postgresql "
            "package creates (run `python3 scripts/dev.py system-deps`)"
        ) from error


def _as_cluster_owner(command: list[str]) -> list[str]:
    """Return `command` wrapped to run as the postgres user when we are root."""
    if not _is_root():
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr).strip() or f"exit status {result.returncode}"
