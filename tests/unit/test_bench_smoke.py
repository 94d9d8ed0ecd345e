"""The ingest benchmark still runs end to end and prints its figures (a tiny count: this checks output, not speed).

It starts its own private Mosquitto and PostgreSQL, so it needs neither fixture, and leaves nothing behind.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "ingest_throughput.py"
MESSAGES = 120
# Under the test's own 180 s limit; the run itself takes a few seconds, most of it initdb.
RUN_TIMEOUT_S = 150


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def test_benchmark_stores_every_message_once_and_prints_each_measurement_with_its_ratio() -> None:
    result = run_bench("--messages", str(MESSAGES), "--devices", "3")

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"{MESSAGES} occupancy.v1 envelopes from 3 devices" in out
    assert re.search(r"^measurement\s+messages\s+seconds\s+msg/s\s+ratio$", out, re.MULTILINE), out
    rows = {
        match["name"]: match
        for match in re.finditer(
            r"^(?P<name>baseline|ingest|replay)\s+(?P<messages>\d+)\s+(?P<seconds>\d+\.\d\d)"
            r"\s+(?P<rate>\d+)\s+(?P<ratio>\d+\.\d\d)$",
            out,
            re.MULTILINE,
        )
    }
    assert set(rows) == {"baseline", "ingest", "replay"}, out
    assert all(int(row["messages"]) == MESSAGES for row in rows.values()), out
    assert all(float(row["seconds"]) > 0 and int(row["rate"]) > 0 for row in rows.values()), out
    assert rows["baseline"]["ratio"] == "1.00"
    assert f"stored {MESSAGES} of {MESSAGES} rows; the replay added 0" in out
    assert re.search(r"^machine: \d+ CPUs, .*Python 3\.\d+\.\d+, paho-mqtt \S+, psycopg \S+", out, re.MULTILINE), out


def test_benchmark_refuses_more_devices_than_the_shipped_belt_has_without_starting_anything() -> None:
    result = run_bench("--messages", "10", "--devices", "999")

    assert result.returncode == 2
    assert "--devices must be in 1.." in result.stderr
    assert result.stdout == ""
