"""A private PostgreSQL cluster on 127.0.0.1 run from the machine's binaries, in a data directory of ours.

The data directory is the cluster itself (PGDATA), created by initdb on first start and reused afterwards; the
server's log is postgres.log inside it. Authentication is `trust`: the instance listens on 127.0.0.1 only and
is for a demo or a test on this machine. When we are root, every PostgreSQL binary runs as the `postgres` system
account, because the server refuses to run as root.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import psycopg

from server.db.migrate import ensure_database
from server.demo.services import (
    LOOPBACK,
    ServiceAccount,
    ServiceStartError,
    ServiceStopError,
    free_port,
    give_to_account,
    is_running,
    kill_and_wait,
    log_tail,
    port_is_free,
    run_as,
    service_account,
    wait_until_gone,
)

__all__ = ["PrivatePostgres", "find_postgres_bin_dir"]

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"
LOG_NAME = "postgres.log"
LOCK_NAME = "postmaster.pid"
BINARIES = ("initdb", "pg_ctl", "postgres")
# sun_path holds 108 bytes with the terminating NUL; longer socket paths cannot be bound.
MAX_SOCKET_PATH = 107
# After its postmaster is SIGKILLed, each child notices the death at its next wait and exits; they must be gone
# before a new postmaster can create its shared memory, so a leftover is killed after this many seconds.
ORPHAN_GRACE_S = 5.0

ShutdownMode = Literal["smart", "fast", "immediate"]


def find_postgres_bin_dir() -> Path:
    """The directory holding initdb, pg_ctl and postgres: from PATH, else /usr/lib/postgresql/<highest>/bin."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        # Debian installs no pg_ctl on PATH; where one is linked there, its real directory has the others.
        candidates.append(Path(on_path).resolve().parent)
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major_version, reverse=True))
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in BINARIES):
            return directory
    raise ServiceStartError(
        "PostgreSQL binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin "
        "(apt-get install postgresql)"
    )


def _major_version(bin_dir: Path) -> int:
    name = bin_dir.parent.name
    return int(name) if name.isdigit() else -1


@dataclass
class PrivatePostgres:
    """A PostgreSQL server we start and stop ourselves; `port` defaults to one that is free now."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    host: str = LOOPBACK
    _pid: int | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id from our last start (it may have exited since), or None."""
        return self._pid

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    def is_running(self) -> bool:
        return self._pid is not None and is_running(self._pid)

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq conninfo string for `dbname` on this server, as the superuser (trust authentication)."""
        return psycopg.conninfo.make_conninfo(host=self.host, port=str(self.port), user=SUPERUSER, dbname=dbname)

    def start(self, timeout: float = 30.0) -> None:
        """Create the cluster if needed, start the server and wait until it accepts connections."""
        if self.is_running():
            return
        bin_dir = find_postgres_bin_dir()
        account = service_account(SUPERUSER)
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        give_to_account(self.data_dir, account)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir, account, timeout)
        self._clear_stale_locks(bin_dir / "postgres")
        if not port_is_free(self.port):
            raise ServiceStartError(f"{bin_dir / 'postgres'}: port {self.host}:{self.port} is already in use")
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {shlex.quote(str(self._socket_dir()))}",
                f"-c listen_addresses={self.host}",
            ]
        )
        command = [str(bin_dir / "pg_ctl"), "start", "-w", "-t", str(max(1, round(timeout)))]
        command += ["-D", str(self.data_dir), "-l", str(self.log_path), "-o", options]
        result = run_as(account, command, cwd=self.data_dir, timeout=timeout + 10)
        if result.returncode != 0:
            raise ServiceStartError(
                f"{bin_dir / 'postgres'} did not start on port {self.port}: {_output(result)}\n"
                f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            )
        self._pid = self._lock_pid()
        if self._pid is None:
            raise ServiceStartError(f"pg_ctl reported a start on port {self.port} but {LOCK_NAME} has no pid")

    def stop(self, mode: ShutdownMode = "fast", timeout: float = 30.0) -> None:
        """Stop the server we started: `fast` rolls back open transactions and checkpoints; `immediate` crashes."""
        pid = self._pid
        if pid is None or not is_running(pid):
            return
        command = [str(find_postgres_bin_dir() / "pg_ctl"), "stop", "-w", "-t", str(max(1, round(timeout)))]
        command += ["-D", str(self.data_dir), "-m", mode]
        result = run_as(service_account(SUPERUSER), command, cwd=self.data_dir, timeout=timeout + 10)
        # pg_ctl returns once postmaster.pid is gone, a moment before the process itself has exited.
        if not wait_until_gone(pid, timeout):
            raise ServiceStopError(f"postmaster pid {pid} still running after pg_ctl stop: {_output(result)}")

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: no checkpoint, so the next start runs crash recovery from the WAL."""
        self.stop(mode="immediate")

    def ensure_database(self, name: str) -> None:
        """Create database `name` unless it exists."""
        ensure_database(self.conninfo(), name)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _initdb(self, bin_dir: Path, account: ServiceAccount | None, timeout: float) -> None:
        command = [str(bin_dir / "initdb"), "-D", str(self.data_dir), f"--username={SUPERUSER}"]
        command += ["--auth=trust", "--encoding=UTF8", "--locale=C"]
        result = run_as(account, command, cwd=self.data_dir, timeout=max(timeout, 60.0))
        if result.returncode != 0:
            raise ServiceStartError(f"{bin_dir / 'initdb'} failed for {self.data_dir}: {_output(result)}")
        logger.info("initialised a PostgreSQL cluster in %s", self.data_dir)

    def _socket_dir(self) -> Path:
        if len(str(self.data_dir / f".s.PGSQL.{self.port}")) <= MAX_SOCKET_PATH:
            return self.data_dir
        return Path("/tmp")  # the name carries the port, so it cannot clash with another instance's

    def _lock_pid(self) -> int | None:
        try:
            return int((self.data_dir / LOCK_NAME).read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def _clear_stale_locks(self, postgres: Path) -> None:
        """Remove lock files left by a postmaster that died without cleaning up (kill -9, power loss).

        PostgreSQL removes a stale lock itself only when its pid no longer exists; a dead postmaster that its new
        parent has not reaped yet (a zombie) still exists, and the start fails.
        """
        socket_lock = self._socket_dir() / f".s.PGSQL.{self.port}.lock"
        with contextlib.suppress(FileNotFoundError, IndexError, ValueError):
            socket_pid = int(socket_lock.read_text().split()[0])
            if not is_running(socket_pid):
                socket_lock.unlink()
                (self._socket_dir() / f".s.PGSQL.{self.port}").unlink(missing_ok=True)
        lock = self.data_dir / LOCK_NAME
        if not lock.exists():
            return
        old_pid = self._lock_pid()
        if old_pid is not None and is_running(old_pid) and _runs(old_pid, postgres):
            raise ServiceStartError(
                f"{postgres}: a server from an earlier run (pid {old_pid}) still uses {self.data_dir}; "
                f"stop it with: pg_ctl stop -D {self.data_dir}"
            )
        lock.unlink()
        logger.warning("removed stale %s (pid %s is not running) in %s", LOCK_NAME, old_pid, self.data_dir)
        self._reap_orphans(postgres)

    def _reap_orphans(self, postgres: Path) -> None:
        # Children of the dead postmaster (checkpointer, backends) still attached to its shared memory would make
        # the new postmaster refuse to start. They are ours: postgres processes working in this data directory.
        deadline = time.monotonic() + ORPHAN_GRACE_S
        while orphans := self._orphans(postgres):
            if time.monotonic() >= deadline:
                for pid in orphans:
                    logger.warning("killing orphaned postgres process %d of %s", pid, self.data_dir)
                    kill_and_wait(pid, timeout=5.0)
                return
            time.sleep(0.1)

    def _orphans(self, postgres: Path) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _runs(int(entry.name), postgres):
                try:
                    cwd = Path(os.readlink(entry / "cwd"))
                except OSError:
                    continue
                if cwd == self.data_dir:
                    found.append(int(entry.name))
        return found


def _runs(pid: int, binary: Path) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")) == binary.resolve()
    except OSError:
        return False


def _output(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stdout + result.stderr).strip()
    return f"exit status {result.returncode}" + (f"\n{text}" if text else "")
