"""The benchmarks still run end to end and print their figures (tiny counts: this checks output, not speed).

The ingest one starts its own private Mosquitto and PostgreSQL, so it needs neither fixture, and leaves nothing
behind; the poll isolation one serves its own simulated Modbus devices on loopback ports the kernel picks. The
dashboard queries one creates a database on the tests' PostgreSQL (SC_TEST_PG_DSN) and must drop it again.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.conftest import PG_ADMIN_DSN

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


POLL_BENCH = ROOT / "bench" / "poll_isolation.py"


def run_poll_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(POLL_BENCH), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def test_poll_isolation_benchmark_keeps_healthy_devices_good_and_prints_each_phase_with_its_ratio() -> None:
    result = run_poll_bench("--devices", "2", "--seconds", "1")

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "poll isolation: 2 people counters on loopback Modbus TCP, interval 200 ms" in out
    assert re.search(r"^phase\s+healthy\s+snapshots\s+median_ms\s+p95_ms\s+max_ms\s+ratio\s+dead$", out, re.M), out
    rows = {
        match["name"]: match
        for match in re.finditer(
            r"^(?P<name>baseline|offline|late)\s+(?P<healthy>\d+)\s+(?P<snapshots>\d+)\s+(?P<median>\d+\.\d)"
            r"\s+\d+\.\d\s+\d+\.\d\s+(?P<ratio>\d+\.\d\d)\s+(?P<dead>.+)$",
            out,
            re.MULTILINE,
        )
    }
    assert set(rows) == {"baseline", "offline", "late"}, out
    assert [int(rows[name]["healthy"]) for name in ("baseline", "offline", "late")] == [2, 1, 1]
    assert all(int(row["snapshots"]) > 0 and float(row["median"]) > 0 for row in rows.values()), out
    assert rows["baseline"]["ratio"] == "1.00"
    assert re.fullmatch(r"good=\d+", rows["baseline"]["dead"]), out
    assert "unreachable=" in rows["offline"]["dead"]
    assert "unreachable=" in rows["late"]["dead"]
    assert re.search(r"^machine: \d+ CPUs, .*Python 3\.\d+\.\d+, pymodbus \S+; load average", out, re.MULTILINE), out


def test_poll_isolation_benchmark_refuses_a_single_device_without_starting_anything() -> None:
    result = run_poll_bench("--devices", "1")

    assert result.returncode == 2
    assert "--devices must be at least 2" in result.stderr
    assert result.stdout == ""


def test_queue_latency_benchmark_sees_every_call_on_both_paths_and_prints_medians_and_ratios() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "queue_call_latency.py"), "--calls", "5", "--load", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "never seen" not in result.stderr, result.stderr
    for path in ("mqtt_board", "web_sse"):
        assert re.search(
            rf"^{path}\s+quiet median\s+\d+\.\d ms\s+p99\s+\d+\.\d ms \| loaded median\s+\d+\.\d ms\s+p99\s+\d+\.\d ms"
            r" \| loaded/quiet median \d+\.\d\d$",
            result.stdout,
            re.MULTILINE,
        ), result.stdout


def test_dashboard_queries_benchmark_times_every_committed_panel_at_both_ranges_and_drops_its_database() -> None:
    panel_queries = 0
    for path in (ROOT / "dashboards" / "generated").glob("*.json"):
        for top in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for panel in (top, *top.get("panels", ())):
                panel_queries += sum(1 for target in panel.get("targets", ()) if target.get("rawSql"))

    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dashboard_queries.py"), "--days", "2", "--repeat", "1",
         "--dsn", PG_ADMIN_DSN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^fill: \d+\.\d s ", out, re.MULTILINE), out
    assert re.search(r"^  occupancy_reading\s+[1-9]\d*$", out, re.MULTILINE), out
    rows = re.findall(
        r"^sc-[a-z-]+\s+.+?\s+now-\d+[mhdw]\s+\d+\s+\d+\s+(\d+\.\d)\s+(\d+\.\d)\s+(\d+\.\d\d)$", out, re.MULTILINE
    )
    assert panel_queries > 0
    assert len(rows) == panel_queries, out
    assert all(float(default_ms) > 0 and float(whole_ms) > 0 for default_ms, whole_ms, _ in rows), out
    assert re.search(rf"^total: {panel_queries} panels, \d+\.\d ms at their default ranges, \d+\.\d ms at 2 days",
                     out, re.MULTILINE), out  # fmt: skip
    assert re.search(r"^over 1 s at 2 days: ", out, re.MULTILINE), out
    assert re.search(r"^machine: \d+ CPUs; PostgreSQL \d+", out, re.MULTILINE), out
    database = re.search(r"^database: (sc_bench_dashboards_[0-9a-f]+) \(dropped at the end\)$", out, re.MULTILINE)
    assert database is not None, out
    with psycopg.connect(PG_ADMIN_DSN) as admin:
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database[1],)).fetchone() is None
