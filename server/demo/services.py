"""What private Mosquitto and PostgreSQL instances share: errors, ports, service accounts, process checks.

Private instances run from the machine's own binaries in a data directory of ours, on a port of ours, so a demo
or a fault test can start, stop and kill them without touching the system's broker (127.0.0.1:1883) or
database (127.0.0.1:5432).

Exceptions:

    ServiceError            anything that went wrong with a private service
    ├── ServiceStartError   it did not start (names the binary, the port and the last lines of its log)
    └── ServiceStopError    it did not stop, or an external command to stop it failed
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import random
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOOPBACK",
    "ServiceAccount",
    "ServiceError",
    "ServiceStartError",
    "ServiceStopError",
    "free_port",
    "give_to_account",
    "is_running",
    "kill_and_wait",
    "log_tail",
    "port_is_free",
    "run_as",
    "service_account",
    "spawn_as",
    "wait_until_gone",
]

LOOPBACK = "127.0.0.1"

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A private service could not be managed."""


class ServiceStartError(ServiceError):
    """A private service did not start; the message says which binary, which port, and what its log said."""


class ServiceStopError(ServiceError):
    """A private service did not stop."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The system account a service runs as when we are root (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int


def service_account(name: str, *, fallback: str | None = None) -> ServiceAccount | None:
    """The account to run a service as, or None to run it as ourselves (when we are not root)."""
    if os.geteuid() != 0:
        return None
    for candidate in (name, fallback):
        if candidate is None:
            continue
        try:
            entry = pwd.getpwnam(candidate)
        except KeyError:
            continue
        return ServiceAccount(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)
    wanted = name if fallback is None else f"{name} (or {fallback})"
    raise ServiceStartError(f"running as root, and the system account {wanted} to run the service as is missing")


def give_to_account(directory: Path, account: ServiceAccount | None) -> None:
    """Make `directory` and everything in it belong to `account`, and let it reach the directory.

    Every ancestor must be traversable (x) by the account; where one is not (pytest's /tmp/pytest-of-root is
    0700), o+x is added and logged. Read permission is not added, so the ancestors' listings stay private.
    """
    if account is None:
        return
    for path in (directory, *directory.rglob("*")):
        if not path.is_symlink():
            os.chown(path, account.uid, account.gid)
    for ancestor in directory.parents:
        mode = ancestor.stat()
        if not _traversable_by(mode, account):
            os.chmod(ancestor, stat.S_IMODE(mode.st_mode) | stat.S_IXOTH)
            logger.warning("added o+x to %s so that the %s account can reach %s", ancestor, account.name, directory)


def _traversable_by(mode: os.stat_result, account: ServiceAccount) -> bool:
    # Our children run with no supplementary groups (extra_groups=[]), so only the primary group counts.
    if mode.st_uid == account.uid:
        return bool(mode.st_mode & stat.S_IXUSR)
    if mode.st_gid == account.gid:
        return bool(mode.st_mode & stat.S_IXGRP)
    return bool(mode.st_mode & stat.S_IXOTH)


def run_as(
    account: ServiceAccount | None, command: Sequence[str], *, cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion as `account`, capturing its output (never raises on a non-zero exit)."""
    return subprocess.run(
        list(command),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        # Its own session: a terminal's Ctrl-C reaches the demo, which stops services after the programs using them.
        start_new_session=True,
        user=None if account is None else account.uid,
        group=None if account is None else account.gid,
        extra_groups=None if account is None else [],
    )


def spawn_as(
    account: ServiceAccount | None, command: Sequence[str], *, cwd: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a long-running command as `account`, its stdout and stderr appended to `log_path`."""
    with log_path.open("ab") as log:
        # The child keeps its own copy of the descriptor; ours is closed when this block ends.
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=None if account is None else account.uid,
            group=None if account is None else account.gid,
            extra_groups=None if account is None else [],
        )


# Ports our programs listen on come from below the kernel's ephemeral range: the kernel takes the local port of
# every outgoing connection from that range, so a port picked there (say by binding port 0) can be taken by a
# connection in the seconds between picking it and a server binding it (seen: a demo's API port, "address already in
# use"). Simulated devices take 15000-23999 (site_copy.py), other services 24000 up to the ephemeral range.
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEVICE_PORTS = (15000, 24000)
SERVICE_PORTS_FROM = 24000
_given: set[int] = set()  # handed out by this process: never twice, even before anybody binds them
_given_lock = threading.Lock()


def ephemeral_start() -> int:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port(*, lowest: int = SERVICE_PORTS_FROM, below: int | None = None, rng: random.Random | None = None) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the ephemeral range, not handed out by this
    process before."""
    upper = below if below is not None else max(lowest + 100, ephemeral_start())
    pick = rng or random.SystemRandom()
    for _ in range(2000):
        port = pick.randrange(lowest, upper)
        with _given_lock:
            if port in _given or not port_is_free(port):
                continue
            _given.add(port)
            return port
    raise OSError(f"no free port in {lowest}..{upper - 1}")


def port_is_free(port: int) -> bool:
    """Whether a server could bind 127.0.0.1:`port` (SO_REUSEADDR, as servers do, so TIME_WAIT is no obstacle)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def is_running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (a zombie has exited and only waits to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, belongs to another user
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # Format: "pid (comm) state ..."; comm may contain spaces or parentheses, so split after the last ')'.
    return status.rpartition(")")[2].split()[0] != "Z"


def wait_until_gone(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for process `pid` to end; whether it did."""
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def kill_and_wait(pid: int, timeout: float) -> None:
    """SIGKILL process `pid` (if it still exists) and wait for it to disappear."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not wait_until_gone(pid, timeout):
        raise ServiceStopError(f"process {pid} survived SIGKILL for {timeout:.0f} s")


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"({path} is empty)"
