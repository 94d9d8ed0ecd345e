"""``smartcomplex demo``: the whole system on one machine with embedded defaults.

Starts, in order: a private Mosquitto and a private PostgreSQL in the data directory (from the machine's
binaries), the migrations, the server (API + ingest + release scheduler, on the scenario's clock), a scenario (by
default a day at the Complex) entering its bookings through the API as an administrator and playing every device of
the site file on simulators at an accelerated clock, and one edge agent per site; prints where to look;
and on Ctrl-C (SIGINT) or SIGTERM stops everything it started, in reverse order. Every child gets its own session,
so a terminal's Ctrl-C reaches only the demo, which then stops the children in order; and each child is told by the
kernel to stop if the demo itself dies.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devices.site import Belt
from server.db.accounts_bootstrap import ensure_admin_token
from server.db.errors import DatabaseError
from server.db.migrate import apply_migrations
from server.demo.mosquitto import PrivateMosquitto
from server.demo.postgres import PrivatePostgres
from server.demo.services import ServiceError, free_port, port_is_free
from server.demo.site_copy import write_simulated_site_file

log = logging.getLogger(__name__)

DATABASE_NAME = "smartcomplex"
# Seconds a child gets to stop after SIGTERM before it is killed.
CHILD_STOP_TIMEOUT_S = 10.0
# Real seconds from the API answering to the simulated day's start: the scenario enters the day's bookings (about a
# second), and the edge agents, started meanwhile, subscribe to their devices and poll each Modbus device once, so
# they see the day from its first badge read.
SCENARIO_LEAD_IN_S = 8.0
# The scenario enters the day's bookings as this administrator, with a token in <data>/scenario.token.
SCENARIO_ADMIN = "demo-admin"
# Occupancy readings older than this (simulated seconds) make a space "unknown" (SC_OCCUPANCY_STALE_AFTER_S). The
# server judges them on the scenario's accelerated clock, but wall time passes between a reading and its use whatever
# the speed: the VS121's report stamps whole seconds (a reading looks up to 1 s old as it is made), and its way
# through the edge and both brokers to the database takes tens of milliseconds, hundreds on a loaded machine. At 720x
# one wall second is 12 simulated minutes, so the production 180 s would find sensors stale and withhold releases
# (measured: with 0.75 s, "last reading 10 min ago; stale after 9 min" and no-shows released 4-5 minutes late).
# Two wall seconds of headroom, and never less than production's 180 s.
STALE_WALL_S = 2.0
STALE_MIN_S = 180.0
# Linux prctl option: deliver a signal to this process when its parent dies.
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class DemoOptions:
    data_dir: Path
    api_port: int = 8000
    speed: float = 60.0
    seed: int = 1
    start: str = "08:30"
    site_file: Path | None = None
    scenario: str = "day"
    duration_min: float | None = None  # simulated minutes; None: to the end of the day


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM when the demo dies, whatever killed it."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcesses:
    """The demo's own programs (server, agents, simulators), stopped in reverse start order."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_file = (self._log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", *argv],
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log_file.close()
        self._children.append((name, process))
        return process

    def first_exited(self, *, finished: frozenset[str] = frozenset()) -> tuple[str, int] | None:
        """The first child that exited, leaving out those in ``finished`` that ended with code 0 (their job done)."""
        for name, process in self._children:
            code = process.poll()
            if code is not None and not (code == 0 and name in finished):
                return name, code
        return None

    def exit_code(self, name: str) -> int | None:
        """The exit code of the child ``name``, or None while it runs."""
        return next((process.poll() for child, process in self._children if child == name), None)

    def stop_all(self) -> None:
        for name, process in reversed(self._children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(CHILD_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %.0f s; killing it", name, CHILD_STOP_TIMEOUT_S)
                    process.kill()
                    process.wait()
        self._children.clear()


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), also when the file was there before."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text + "\n")


def _wait_for_http(url: str, *, timeout: float, child: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers (503 while the ingest connects is still an answer)
        except OSError:
            time.sleep(0.2)
    return False


def _banner(options: DemoOptions, belt: Belt, broker_url: str, conninfo: str) -> str:
    api = f"http://127.0.0.1:{options.api_port}"
    first_site = belt.sites[0]
    sensed = {device.space for device in first_site.devices if device.model == "milesight-vs121"}
    space = next((s for s in first_site.spaces if s.bookable and s.id in sensed), first_site.spaces[0])
    return "\n".join(
        [
            f"Smart Complex demo is running (data in {options.data_dir}; Ctrl-C stops everything)",
            f"  API docs:          {api}/docs",
            f"  OpenAPI document:  {api}/openapi.json",
            f"  {space.name}:".ljust(21) + f"{api}/api/v1/sites/{first_site.id}/spaces/{space.id}/occupancy",
            f"  whole {first_site.id}:".ljust(21) + f"{api}/api/v1/sites/{first_site.id}/occupancy",
            f"  bookings:          {api}/api/v1/bookings?site={first_site.id}"
            f" (Authorization: Bearer <{options.data_dir / 'scenario.token'}>)",
            f"  devices' health:   {api}/api/v1/sites/{first_site.id}/devices",
            f"  queue display:     {api}/display/{first_site.id}  (the hall's big screen; live)",
            f"  take a ticket:     POST {api}/api/v1/sites/{first_site.id}/tickets"
            ' {"service": "party-mass"} (with the Bearer token above)',
            f"  ground truth:      {options.data_dir / 'truth.json'} (written when the scenario ends)",
            f"  MQTT broker:       {broker_url}",
            f"  PostgreSQL:        {conninfo}",
            f"  logs:              {options.data_dir / 'logs'}",
        ]
    )


def run_demo(options: DemoOptions, belt: Belt, *, stop: threading.Event) -> int:
    data_dir = options.data_dir.resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if not port_is_free(options.api_port):
        log.error("port %d is taken; pass --api-port", options.api_port)
        return 2
    broker = PrivateMosquitto(data_dir / "mosquitto", port=free_port())
    database = PrivatePostgres(data_dir / "postgres", port=free_port())
    children = ChildProcesses(log_dir)
    try:
        return _run_everything(options, belt, broker, database, children, stop=stop)
    except (ServiceError, DatabaseError) as exc:
        log.error("the demo could not start its services: %s", exc)
        return 1
    finally:
        children.stop_all()
        database.stop()
        broker.stop()
        log.info("demo stopped; data kept in %s", data_dir)


def _run_everything(
    options: DemoOptions,
    belt: Belt,
    broker: PrivateMosquitto,
    database: PrivatePostgres,
    children: ChildProcesses,
    *,
    stop: threading.Event,
) -> int:
    data_dir = options.data_dir.resolve()
    log_dir = data_dir / "logs"
    broker.start()
    database.start()
    database.ensure_database(DATABASE_NAME)
    conninfo = database.conninfo(DATABASE_NAME)
    report = apply_migrations(conninfo)
    log.info("database ready: %d migration(s) applied, %d already there", len(report.applied), len(report.already))
    token_file = data_dir / "scenario.token"
    _write_secret(token_file, ensure_admin_token(conninfo, login=SCENARIO_ADMIN))
    # The server follows the clock the scenario writes here; an anchor left by an earlier run would set it to that
    # run's day until the scenario writes the new one.
    clock_file = data_dir / "clock.json"
    clock_file.unlink(missing_ok=True)
    # The site file with every Modbus device on a loopback port, where the scenario serves its simulator.
    copy = data_dir / "site.yaml"
    write_simulated_site_file(options.site_file, copy)
    site_file = ["--site-file", str(copy)]
    server_env = {
        "SC_DATABASE_URL": conninfo,
        "SC_MQTT_URL": broker.url,
        "SC_SIMULATED_CLOCK_FILE": str(clock_file),
        "SC_OCCUPANCY_STALE_AFTER_S": str(max(STALE_MIN_S, STALE_WALL_S * options.speed)),
        # The scheduler sleeps until its earliest deadline but at most this long (wall s), and the API's changes wake
        # it at once (NOTIFY); 1 s in production would be 12 simulated minutes at 720x.
        "SC_SCHEDULER_MAX_SLEEP_S": "0.1",
    }
    server = children.start("server", ["server", "--port", str(options.api_port), *site_file], server_env)
    central_url, relay = broker.url, []
    if options.scenario == "uplink-cut":  # the edge agents reach the centre through a relay the scenario can cut
        relay_port = free_port()
        central_url = f"mqtt://127.0.0.1:{relay_port}"
        relay = ["--uplink-relay", f"{relay_port}:127.0.0.1:{broker.port}"]
    duration = [] if options.duration_min is None else ["--duration", str(options.duration_min)]
    children.start(
        "scenario",
        [
            "simulate",
            "scenario",
            options.scenario,
            "--broker",
            broker.url,
            "--speed",
            str(options.speed),
            "--seed",
            str(options.seed),
            "--start",
            options.start,
            "--truth",
            str(data_dir / "truth.json"),
            "--lead-in",
            str(SCENARIO_LEAD_IN_S),
            "--api",
            f"http://127.0.0.1:{options.api_port}",
            "--api-token-file",
            str(token_file),
            "--clock-file",
            str(clock_file),
            *duration,
            *relay,
            *site_file,
        ],
        {},
    )
    for site in belt.sites:
        edge_env = {
            "SC_EDGE_SITE_BROKER_URL": broker.url,
            "SC_EDGE_CENTRAL_BROKER_URL": central_url,
            "SC_EDGE_CLOCK_FILE": str(clock_file),  # the site queue runs on the scenario's clock, as the server does
            # Every 30 simulated seconds, as in production, but at most once a wall second.
            "SC_EDGE_OUTBOX_REPORT_INTERVAL_S": str(max(1.0, 30.0 / options.speed)),
        }
        children.start(
            f"edge-{site.id}",
            ["edge", "--site", site.id, "--state-dir", str(data_dir / "edge"), *site_file],
            edge_env,
        )
    if not _wait_for_http(f"http://127.0.0.1:{options.api_port}/api/v1/health", timeout=60, child=server):
        log.error("the server did not answer; see %s", log_dir / "server.log")
        return 1
    print(_banner(options, belt, broker.url, conninfo), flush=True)
    scenario_over = False
    while not stop.wait(0.5):
        exited = children.first_exited(finished=frozenset({"scenario"}))
        if not scenario_over and children.exit_code("scenario") == 0:
            scenario_over = True
            print("The simulated day is over; the system keeps running until Ctrl-C.", flush=True)
        if exited is not None:
            log.error("%s exited with code %d; stopping the demo (see %s)", exited[0], exited[1], log_dir)
            return 1
    return 0
