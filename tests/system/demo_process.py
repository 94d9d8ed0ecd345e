"""``smartcomplex demo`` run as a newcomer would: started, its banner read, its output drained, stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

START = "10:00"  # local time of the simulated day: most spaces are open and filling up


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc), whatever session it started."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def read_banner(process: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    lines: dict[str, str] = {}
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if ":" in line and line.startswith("  "):
            key, _, value = line.strip().partition(":")
            lines[key] = value.strip()
        if "logs:" in line:
            return lines
    raise AssertionError(f"the demo printed no banner in time (exit code {process.poll()})")


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


class RunningDemo:
    """``smartcomplex demo`` started as a newcomer would, its output drained, stopped with SIGINT (Ctrl-C)."""

    def __init__(
        self, data_dir: Path, api_port: int, args: Sequence[str] = ("--speed", "120", "--start", START)
    ) -> None:
        self.api = f"http://127.0.0.1:{api_port}"
        self.started = time.monotonic()
        command = [
            str(Path(sys.executable).with_name("smartcomplex")),
            "demo",
            "--data-dir",
            str(data_dir),
            "--api-port",
            str(api_port),
            *args,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.output: list[str] = []
        self._drain: threading.Thread | None = None

    def wait_for_banner(self) -> int:
        """The banner's MQTT broker port; then keeps draining the output so the demo never blocks on the pipe."""
        banner = read_banner(self.process, self.started + 60)
        stdout = self.process.stdout
        assert stdout is not None
        self._drain = threading.Thread(target=lambda: self.output.extend(iter(stdout.readline, "")), daemon=True)
        self._drain.start()
        return int(re.sub(r".*:(\d+)$", r"\1", banner["MQTT broker"]))

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        finally:
            if self._drain is not None:
                self._drain.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
