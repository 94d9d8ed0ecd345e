"""A private Mosquitto broker on 127.0.0.1 run from the machine's binary, with its state in a data directory.

The data directory holds the generated mosquitto.conf, mosquitto.log, mosquitto.pid and the persistence file
mosquitto.db; starting again on the same directory picks up the sessions and queued messages left by the last run.
When we are root the broker runs as the `mosquitto` account (or `nobody` if that is missing) from the start, so
it can write its own directory and never holds root privileges.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import string
import subprocess
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType

from server.demo.services import (
    LOOPBACK,
    ServiceStartError,
    ServiceStopError,
    free_port,
    give_to_account,
    is_running,
    log_tail,
    port_is_free,
    service_account,
    spawn_as,
)

__all__ = ["PrivateMosquitto", "find_mosquitto"]

CONFIG_NAME = "mosquitto.conf"
LOG_NAME = "mosquitto.log"
PID_NAME = "mosquitto.pid"


def find_mosquitto() -> Path:
    """The mosquitto binary: on PATH, else Debian's /usr/sbin (not on a non-root PATH)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ServiceStartError("mosquitto binary not found on PATH or in /usr/sbin (apt-get install mosquitto)")
    return Path(found)


def render_config(*, port: int, data_dir: Path) -> str:
    """The broker configuration for `port` with its state in `data_dir`."""
    if any(char.isspace() for char in str(data_dir)):
        # Mosquitto splits option values at whitespace, so such a path would silently point elsewhere.
        raise ServiceStartError(f"mosquitto data directory must not contain whitespace: {data_dir!r}")
    template = resources.files("server.demo").joinpath("mosquitto.conf.tmpl").read_text()
    return string.Template(template).substitute(port=port, data_dir=data_dir)


@dataclass
class PrivateMosquitto:
    """A broker we start and stop ourselves; `port` defaults to one that is free now."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    host: str = LOOPBACK
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id of the broker we started last (it may have exited since), or None."""
        return None if self._process is None else self._process.pid

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts TCP connections on its port."""
        if self.is_running():
            return
        binary = find_mosquitto()
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_if_left_running(binary)
        if not port_is_free(self.port):
            raise ServiceStartError(f"{binary}: port {self.host}:{self.port} is already in use")
        config_path = self.data_dir / CONFIG_NAME
        config_path.write_text(render_config(port=self.port, data_dir=self.data_dir))
        account = service_account("mosquitto", fallback="nobody")
        give_to_account(self.data_dir, account)
        self._process = spawn_as(
            account,
            [str(binary), "-c", str(config_path)],
            cwd=self.data_dir,
            log_path=self.log_path,
        )
        self._wait_until_listening(binary, self._process, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the broker saves its persistence file), then SIGKILL if it is still there after `timeout` s."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired as exc:
                raise ServiceStopError(f"mosquitto pid {process.pid} survived SIGKILL") from exc

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL, as a crash would: nothing is saved since the last autosave."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.kill()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise ServiceStopError(f"mosquitto pid {process.pid} survived SIGKILL") from exc

    def __enter__(self) -> PrivateMosquitto:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _refuse_if_left_running(self, binary: Path) -> None:
        # A broker from an earlier run (say, a demo whose parent was killed) still holds this directory; starting a
        # second one on it would have both overwrite the same persistence file.
        try:
            old_pid = int((self.data_dir / PID_NAME).read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return
        if is_running(old_pid) and _is_mosquitto(old_pid, binary):
            raise ServiceStartError(
                f"{binary}: a broker from an earlier run (pid {old_pid}) still uses {self.data_dir}; stop it first"
            )

    def _wait_until_listening(self, binary: Path, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ServiceStartError(
                    f"{binary} exited with status {process.returncode} before listening on port {self.port}; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
            except OSError:
                pass
            else:
                # The port was checked free before the start, so what answered is our broker.
                return
            if time.monotonic() >= deadline:
                self.kill()
                raise ServiceStartError(
                    f"{binary} did not listen on port {self.port} within {timeout:.0f} s; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.05)


def _is_mosquitto(pid: int, binary: Path) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")) == binary.resolve()
    except OSError:
        return False
