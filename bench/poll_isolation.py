"""Poll isolation: one dead Modbus device must not slow the other devices polled by the same agent.

Starts N simulated people counters on loopback Modbus TCP and polls them all with one ``PollScheduler`` (one
``DevicePoller`` and one ``PymodbusReader`` per device, interval I with the poller's +-10 % jitter, timeout T).
Three phases of D seconds each, every one with a fresh scheduler over the same simulators:

    baseline  every device healthy
    offline   device counter-0 closes its listener and connections (connection refused / reset)
    late      device counter-0 holds every reply back 2 x T, so every request times out

Prints one line per phase: the healthy devices' gaps between consecutive snapshots (median, p95, max, in ms), the
ratio of the median to the baseline's median, and what the dead device's snapshots said. Exits 1 when a healthy
device produced a snapshot that was not "good" or went longer than I x 1.1 + T + 0.1 s without one (isolation
broken, a correctness failure, not a slow run), or when the fault did not take.

    uv run python bench/poll_isolation.py [--devices 8] [--interval 0.2] [--timeout 0.5] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from itertools import pairwise

from devices.catalogue import people_counter_map
from edge.modbus_poller import DevicePoller, PointSnapshot, PollScheduler
from edge.modbus_reader import PymodbusReader
from simulators.modbus_device import Fault, SimulatorError
from simulators.modbus_models import PeopleCounterSimulator

DEAD_DEVICE = "counter-0"
# Polling runs this long (seconds) before a phase's window opens, so first connects are not measured.
WARM_UP_S = 0.5
# Slack (seconds) on top of one jittered interval plus one timeout before a healthy device's gap means that
# another device's poll held it up; the same bound as the integration test of the isolation.
GAP_SLACK_S = 0.1


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    fault: Fault  # what the dead device does during the window; Fault.NONE for the baseline


PHASES = (Phase("baseline", Fault.NONE), Phase("offline", Fault.OFFLINE), Phase("late", Fault.LATE))


@dataclass(frozen=True, slots=True)
class Arrival:
    device_id: str
    at: float  # time.monotonic() seconds when the scheduler handed the snapshot over
    quality: str


@dataclass(frozen=True, slots=True)
class PhaseResult:
    phase: Phase
    gaps_s: dict[str, list[float]]  # healthy device -> gaps between its snapshots in the window, seconds
    healthy_qualities: dict[str, Counter[str]]  # healthy device -> qualities of its snapshots in the window
    dead_qualities: Counter[str]  # the dead device's snapshots in the window, by quality

    @property
    def all_gaps_s(self) -> list[float]:
        return [gap for gaps in self.gaps_s.values() for gap in gaps]

    @property
    def snapshots(self) -> int:
        return sum(sum(qualities.values()) for qualities in self.healthy_qualities.values())


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (fraction in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def build_pollers(
    simulators: Sequence[PeopleCounterSimulator], interval_s: float, timeout_s: float
) -> list[DevicePoller]:
    """One poller and one connection per device; reader backoff left at its production defaults."""
    pollers = []
    for number, simulator in enumerate(simulators):
        reader = PymodbusReader("127.0.0.1", simulator.port, timeout_s=timeout_s)
        register_map = people_counter_map(simulator.device.register_map.word_order)
        pollers.append(
            DevicePoller(f"counter-{number}", register_map, reader, interval_s=interval_s, rng=random.Random(number))
        )
    return pollers


async def poll_through_phase(
    scheduler: PollScheduler, dead: PeopleCounterSimulator, phase: Phase, timeout_s: float, seconds: float
) -> tuple[float, float]:
    """Run the scheduler and break the dead device when the window opens; returns the window's (start, end)."""
    polling = asyncio.create_task(scheduler.run())
    try:
        await asyncio.sleep(WARM_UP_S)
        window_start = time.monotonic()
        if phase.fault is not Fault.NONE:
            # In a thread: set_fault waits on the simulator's own loop (closing its listener), which must not
            # stall this loop and show up as a gap of the healthy devices.
            await asyncio.to_thread(dead.device.set_fault, phase.fault, late_s=2 * timeout_s)
        await asyncio.sleep(window_start + seconds - time.monotonic())
        window_end = time.monotonic()
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    return window_start, window_end


def measure_phase(
    simulators: Sequence[PeopleCounterSimulator], phase: Phase, interval_s: float, timeout_s: float, seconds: float
) -> PhaseResult:
    """One phase with a fresh scheduler (fresh connections, no backoff left over from the previous phase)."""
    arrivals: list[Arrival] = []

    def record(snapshot: PointSnapshot) -> None:
        arrivals.append(Arrival(snapshot.device_id, time.monotonic(), snapshot.quality))

    pollers = build_pollers(simulators, interval_s, timeout_s)
    scheduler = PollScheduler(pollers, record)
    try:
        start, end = asyncio.run(poll_through_phase(scheduler, simulators[0], phase, timeout_s, seconds))
    finally:
        simulators[0].device.clear_fault()
    times: dict[str, list[float]] = defaultdict(list)
    qualities: dict[str, Counter[str]] = defaultdict(Counter)
    for arrival in arrivals:
        if start <= arrival.at <= end:
            times[arrival.device_id].append(arrival.at)
            qualities[arrival.device_id][arrival.quality] += 1
    # In the baseline the device to be killed later is healthy too, and counted with the others.
    healthy = [p.device_id for p in pollers if phase.fault is Fault.NONE or p.device_id != DEAD_DEVICE]
    return PhaseResult(
        phase,
        gaps_s={device: [later - earlier for earlier, later in pairwise(times[device])] for device in healthy},
        healthy_qualities={device: qualities[device] for device in healthy},
        dead_qualities=Counter(qualities[DEAD_DEVICE]),
    )


def failures_of(result: PhaseResult, max_gap_s: float) -> list[str]:
    failures = []
    for device, gaps in result.gaps_s.items():
        bad = {quality: n for quality, n in result.healthy_qualities[device].items() if quality != "good"}
        if bad:
            failures.append(f"{result.phase.name}: healthy {device} produced {bad}")
        if not gaps:
            failures.append(f"{result.phase.name}: healthy {device} produced fewer than two snapshots")
        elif max(gaps) > max_gap_s:
            failures.append(
                f"{result.phase.name}: healthy {device} went {max(gaps) * 1000:.0f} ms without a snapshot "
                f"(limit {max_gap_s * 1000:.0f} ms)"
            )
    if result.phase.fault is not Fault.NONE and result.dead_qualities.get("unreachable", 0) == 0:
        failures.append(f"{result.phase.name}: {DEAD_DEVICE} was never unreachable, so the fault did not take")
    return failures


def phase_line(result: PhaseResult, baseline_median_s: float) -> str:
    gaps = result.all_gaps_s
    median = statistics.median(gaps) if gaps else 0.0
    p95 = percentile(gaps, 0.95) if gaps else 0.0
    longest = max(gaps) if gaps else 0.0
    ratio = median / baseline_median_s if baseline_median_s > 0 else 0.0
    dead = " ".join(f"{quality}={n}" for quality, n in sorted(result.dead_qualities.items())) or "none"
    return (
        f"{result.phase.name:<10}{len(result.gaps_s):>8}{result.snapshots:>10}{median * 1000:>11.1f}"
        f"{p95 * 1000:>9.1f}{longest * 1000:>9.1f}{ratio:>7.2f}  {dead}"
    )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(device_count: int, interval_s: float, timeout_s: float, seconds: float) -> int:
    load_at_start = load_average()
    max_gap_s = interval_s * 1.1 + timeout_s + GAP_SLACK_S
    print(
        f"poll isolation: {device_count} people counters on loopback Modbus TCP, interval {interval_s * 1000:.0f} ms "
        f"(+-10 % jitter), timeout {timeout_s * 1000:.0f} ms, {seconds:g} s per phase; dead device {DEAD_DEVICE}, "
        f"late replies {2 * timeout_s * 1000:.0f} ms; healthy gap limit {max_gap_s * 1000:.0f} ms",
        flush=True,
    )
    simulators = [PeopleCounterSimulator(seed=seed) for seed in range(device_count)]
    results: list[PhaseResult] = []
    try:
        for simulator in simulators:
            simulator.start()
        for phase in PHASES:
            results.append(measure_phase(simulators, phase, interval_s, timeout_s, seconds))
    finally:
        for simulator in simulators:
            simulator.stop()
    baseline_gaps = results[0].all_gaps_s
    baseline_median_s = statistics.median(baseline_gaps) if baseline_gaps else 0.0
    print(f"{'phase':<10}{'healthy':>8}{'snapshots':>10}{'median_ms':>11}{'p95_ms':>9}{'max_ms':>9}{'ratio':>7}  dead")
    for result in results:
        print(phase_line(result, baseline_median_s))
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, pymodbus {version('pymodbus')}; "
        f"load average (1/5/15 min) {load_at_start} at the start, {load_average()} at the end"
    )
    failures = [failure for result in results for failure in failures_of(result, max_gap_s)]
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=8, help="people counters polled together (at least 2)")
    parser.add_argument("--interval", type=float, default=0.2, help="poll interval I in seconds")
    parser.add_argument("--timeout", type=float, default=0.5, help="connect and request timeout T in seconds")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window D of each phase in seconds")
    args = parser.parse_args(argv)
    if args.devices < 2:
        parser.error("--devices must be at least 2 (one dead, at least one healthy)")
    if args.interval <= 0 or args.timeout <= 0 or args.seconds <= 0:
        parser.error("--interval, --timeout and --seconds must be positive")
    # ERROR: the poller's own warnings are the dead device's expected failures, already counted in the table.
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # In the late phase the simulator answers after the poller has hung up; pymodbus logs each such reply as
    # an error with a frame dump. Expected here, and not the poller's doing.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        return run(args.devices, args.interval, args.timeout, args.seconds)
    except SimulatorError as exc:
        print(f"poll_isolation: could not run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
