"""``smartcomplex``: the one command line of the project.

This module is the composition root: the only place in ``server/`` that starts the edge agent and the simulators
(imported lazily, inside their subcommands), so that ``edge/`` and ``simulators/`` never need to import the server.
A bad site file stops every subcommand before it starts anything, with one line naming the file, the place and the
problem.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from dashboards.cli import add_dashboards_commands
from dashboards.reports.cli import add_report_command
from devices.catalogue import MODBUS_MODELS
from devices.site import Belt, SiteFileError, load_belt
from devices.vendors.queue_devices import QUEUE_MODELS
from server.cli_accounts import add_accounts_commands
from server.cli_db_reader import add_db_reader_commands
from server.cli_deploy import add_deploy_commands
from server.db.errors import DatabaseError

if TYPE_CHECKING:
    from simulators.scenario.booking_client import BookingApi

log = logging.getLogger("smartcomplex")


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so long-running subcommands shut down cleanly."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop


def _load_belt(site_file: Path | None) -> Belt:
    try:
        return load_belt(site_file)
    except SiteFileError as exc:
        print(f"smartcomplex: bad site file: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_site_check(args: argparse.Namespace) -> int:
    belt = _load_belt(args.site_file)
    for site in belt.sites:
        print(
            f"{site.id}: {site.name} — {len(site.spaces)} spaces, {len(site.windows)} windows, "
            f"{len(site.devices)} devices"
        )
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from server.db.migrate import apply_migrations
    from server.settings import ServerSettings

    settings = ServerSettings() if args.database_url is None else ServerSettings(database_url=args.database_url)
    belt = _load_belt(args.site_file)  # a bad site file stops the run before the database is touched
    report = apply_migrations(settings.database_url)
    mode = "TimescaleDB" if report.timescale else "plain PostgreSQL"
    print(
        f"applied {len(report.applied)} migration(s) {list(report.applied)}; "
        f"{len(report.already)} already applied; mode: {mode}"
    )
    written = _sync_site_catalogue(settings.database_url, belt)
    print(f"site catalogue: {written['site_catalogue']} site(s), {written['space_catalogue']} space(s)")
    return 0


def _sync_site_catalogue(database_url: str, belt: Belt) -> dict[str, int]:
    import psycopg

    from server.db.catalogue import sync_catalogue

    with psycopg.connect(database_url) as conn:
        return sync_catalogue(conn, belt, now=datetime.now(UTC))


def cmd_server(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.settings import ServerSettings

    overrides = {
        key: value
        for key, value in (("api_host", args.host), ("api_port", args.port), ("site_file", args.site_file))
        if value is not None
    }
    settings = ServerSettings(**overrides)
    belt = _load_belt(settings.site_file)
    if args.migrate:
        from server.db.migrate import apply_migrations

        apply_migrations(settings.database_url)
    app = create_app(settings, belt=belt)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info", access_log=False)
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    from edge.main import run_edge
    from edge.settings import EdgeSettings

    overrides = {
        key: value
        for key, value in (("site_id", args.site), ("site_file", args.site_file), ("state_dir", args.state_dir))
        if value is not None
    }
    settings = EdgeSettings(**overrides)
    belt = _load_belt(settings.site_file)
    return run_edge(settings, belt, stop=_stop_on_signals())


def cmd_simulate_sensors(args: argparse.Namespace) -> int:
    from simulators.main import run_sensor_simulation

    belt = _load_belt(args.site_file)
    return run_sensor_simulation(
        belt,
        sites=args.site,
        broker_url=args.broker,
        speed=args.speed,
        seed=args.seed,
        start=args.start,
        duration_min=args.duration,
        stop=_stop_on_signals(),
    )


def cmd_simulate_device(args: argparse.Namespace) -> int:
    if args.model in MODBUS_MODELS:
        from simulators.modbus_models import serve_model

        serve_model(args.model, seed=args.seed, host=args.host, port=args.port, stop=_stop_on_signals())
        return 0
    from devices.broker import parse_broker_url
    from simulators.queue_devices import run_queue_device

    belt = _load_belt(args.site_file)
    if args.device is None:
        print(f"smartcomplex: {args.model} needs --device: the site file's device it impersonates", file=sys.stderr)
        return 2
    try:
        _site, device = belt.device(args.device)
    except KeyError as exc:
        print(f"smartcomplex: {exc}", file=sys.stderr)
        return 2
    if device.model != args.model:
        print(f"smartcomplex: device {device.id} is a {device.model}, not a {args.model}", file=sys.stderr)
        return 2
    run_queue_device(device, parse_broker_url(args.broker), seed=args.seed, stop=_stop_on_signals())
    return 0


def _booking_api(args: argparse.Namespace) -> BookingApi | None:
    """The scenario's bookings API from --api, --api-token-file and --clock-file (all three or none); exit 2 with
    one line when they cannot be used."""
    from simulators.scenario.booking_client import BookingApi

    given = [args.api, args.api_token_file, args.clock_file]
    if all(value is None for value in given):
        return None
    problem = None
    if any(value is None for value in given):
        problem = "--api, --api-token-file and --clock-file go together"
    else:
        try:
            token = args.api_token_file.read_text(encoding="utf-8").strip()
            problem = None if token else f"the API token file {args.api_token_file} is empty"
        except OSError as exc:
            problem = f"cannot read the API token: {exc}"
    if problem is not None:
        print(f"smartcomplex: {problem}", file=sys.stderr)
        raise SystemExit(2)
    return BookingApi(url=args.api.rstrip("/"), token=token, clock_file=args.clock_file)


def cmd_simulate_scenario(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from devices.broker import parse_broker_url
    from simulators.netfault import TcpRelay
    from simulators.scenario import run_scenario_command

    belt = _load_belt(args.site_file)
    booking_api = _booking_api(args)
    relay: TcpRelay | None = None
    if args.uplink_relay is not None:
        try:
            listen, target_host, target_port = args.uplink_relay.rsplit(":", 2)
            relay = TcpRelay(target_host, int(target_port), listen_host="127.0.0.1", listen_port=int(listen))
        except ValueError:
            print(f"smartcomplex: --uplink-relay {args.uplink_relay!r} is not LISTEN_PORT:HOST:PORT", file=sys.stderr)
            return 2
        relay.start()
    try:
        return run_scenario_command(
            belt,
            site_ids=args.site,
            name=args.name,
            seed=args.seed,
            speed=args.speed,
            start_local=args.start,
            duration=None if args.duration is None else timedelta(minutes=args.duration),
            truth_path=args.truth,
            site_broker=parse_broker_url(args.broker),
            stop=_stop_on_signals(),
            uplink_relay=relay,
            lead_in_s=args.lead_in,
            booking_api=booking_api,
        )
    finally:
        if relay is not None:
            relay.stop()


def cmd_score_releases(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from server.scoring.releases import run_score_releases
    from server.settings import ServerSettings

    settings = ServerSettings() if args.database_url is None else ServerSettings(database_url=args.database_url)
    if args.latency_allowance_s < 0:
        print("smartcomplex: --latency-allowance-s must not be negative", file=sys.stderr)
        return 2
    return run_score_releases(
        args.truth,
        settings.database_url,
        default_mode=settings.release_default_mode,
        latency_allowance=timedelta(seconds=args.latency_allowance_s),
    )


def cmd_score_waits(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from server.scoring.wait_score import run_score_waits
    from server.settings import ServerSettings

    settings = ServerSettings() if args.database_url is None else ServerSettings(database_url=args.database_url)
    if args.tolerance_s < 0:
        print("smartcomplex: --tolerance-s must not be negative", file=sys.stderr)
        return 2
    return run_score_waits(args.truth, settings.database_url, tolerance=timedelta(seconds=args.tolerance_s))


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo.runner import DemoOptions, run_demo

    belt = _load_belt(args.site_file)
    options = DemoOptions(
        data_dir=args.data_dir,
        api_port=args.api_port,
        speed=args.speed,
        seed=args.seed,
        start=args.start,
        site_file=args.site_file,
        scenario=args.scenario,
        duration_min=args.duration,
    )
    return run_demo(options, belt, stop=_stop_on_signals())


def build_parser() -> argparse.ArgumentParser:
    from simulators.scenario.plan import SCENARIOS  # pure data; the simulators themselves load in their subcommands

    parser = argparse.ArgumentParser(prog="smartcomplex", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    site_file = argparse.ArgumentParser(add_help=False)
    site_file.add_argument(
        "--site-file", type=Path, default=None, help="site file (YAML); default: the shipped Changping Road belt"
    )

    demo = commands.add_parser("demo", parents=[site_file], help="run the whole system on embedded defaults")
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".smartcomplex-demo"),
        help="private broker and database live here; a second run reuses them",
    )
    demo.add_argument("--api-port", type=int, default=8000)
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--start", default="08:30", help="local start: HH:MM (today), YYYY-MM-DD HH:MM or 'fri 13:00'")
    demo.add_argument("--scenario", default="day", choices=sorted(SCENARIOS), help="what the simulated devices live")
    demo.add_argument("--duration", type=float, default=None, help="simulated minutes; default: to midnight")
    demo.set_defaults(handler=cmd_demo)

    server = commands.add_parser("server", parents=[site_file], help="run the API and the ingest (SC_* settings)")
    server.add_argument("--host", default=None)
    server.add_argument("--port", type=int, default=None)
    server.add_argument("--migrate", action="store_true", help="apply database migrations first")
    server.set_defaults(handler=cmd_server)

    edge = commands.add_parser("edge", parents=[site_file], help="run one site's edge agent (SC_EDGE_* settings)")
    edge.add_argument("--site", default=None, help="site id (or SC_EDGE_SITE_ID)")
    edge.add_argument("--state-dir", type=Path, default=None)
    edge.set_defaults(handler=cmd_edge)

    simulate = commands.add_parser("simulate", help="impersonate devices")
    simulated = simulate.add_subparsers(dest="what", required=True, metavar="WHAT")
    sensors = simulated.add_parser("sensors", parents=[site_file], help="every MQTT occupancy sensor of the sites")
    sensors.add_argument("--site", action="append", default=None, help="site id (repeatable); default: all")
    sensors.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="the site broker the sensors publish to")
    sensors.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    sensors.add_argument("--seed", type=int, default=1)
    sensors.add_argument("--start", default="08:30", help="local time of day the simulated day starts (HH:MM)")
    sensors.add_argument("--duration", type=float, default=None, help="simulated minutes to run; default: forever")
    sensors.set_defaults(handler=cmd_simulate_sensors)
    scenario = simulated.add_parser(
        "scenario",
        parents=[site_file],
        help="a whole day at the sites on their simulated devices, optionally with faults; writes its ground truth",
    )
    scenario.add_argument("name", choices=sorted(SCENARIOS), help="; ".join(f"{k}: {v}" for k, v in SCENARIOS.items()))
    scenario.add_argument("--site", action="append", default=None, help="site id (repeatable); default: all")
    scenario.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="the site broker the devices use")
    scenario.add_argument("--seed", type=int, default=1)
    scenario.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    scenario.add_argument(
        "--start", default="08:30", help="local start: HH:MM (today), YYYY-MM-DD HH:MM, or a weekday as 'fri 13:00'"
    )
    scenario.add_argument("--duration", type=float, default=None, help="simulated minutes; default: to midnight")
    scenario.add_argument("--truth", type=Path, default=None, help="write the ground truth (JSON) here")
    scenario.add_argument(
        "--lead-in",
        type=float,
        default=0.0,
        help="real seconds the devices run idle before the day starts (for a system starting alongside)",
    )
    scenario.add_argument(
        "--api", default=None, metavar="URL", help="enter the day's bookings through this API (http://host:port)"
    )
    scenario.add_argument("--api-token-file", type=Path, default=None, help="a staff or admin token for --api")
    scenario.add_argument(
        "--clock-file",
        type=Path,
        default=None,
        help="write the scenario's clock anchor here, for the server's SC_SIMULATED_CLOCK_FILE (with --api)",
    )
    scenario.add_argument(
        "--uplink-relay",
        default=None,
        metavar="LISTEN_PORT:HOST:PORT",
        help="relay 127.0.0.1:LISTEN_PORT to the central broker HOST:PORT; edge agents connect through it, and "
        "the uplink-cut scenario cuts it",
    )
    scenario.set_defaults(handler=cmd_simulate_scenario)
    device = simulated.add_parser(
        "device",
        parents=[site_file],
        help="one simulated device of the catalogue: a Modbus TCP server, or an MQTT queue device of the site file",
    )
    device.add_argument("model", choices=sorted({*MODBUS_MODELS, *QUEUE_MODELS}))
    device.add_argument("--host", default="127.0.0.1", help="Modbus models: address to listen on")
    device.add_argument("--port", type=int, default=5020, help="Modbus models: TCP port to listen on")
    device.add_argument("--device", default=None, help="MQTT models: the site file's device id it impersonates")
    device.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="MQTT models: the site broker")
    device.add_argument("--seed", type=int, default=0)
    device.set_defaults(handler=cmd_simulate_device)

    add_accounts_commands(commands, site_file=site_file)
    add_dashboards_commands(commands)
    add_report_command(commands)
    add_deploy_commands(commands, site_file=site_file)

    score = commands.add_parser("score", help="score the system's decisions against a scenario's ground truth")
    score_commands = score.add_subparsers(dest="what", required=True, metavar="WHAT")
    releases = score_commands.add_parser(
        "releases", help="the release policy on a scenario day (no-shows released in time, false releases): JSON"
    )
    releases.add_argument("--truth", type=Path, required=True, help="the scenario's truth.json")
    releases.add_argument("--database-url", default=None, help="libpq conninfo; default SC_DATABASE_URL")
    releases.add_argument(
        "--latency-allowance-s",
        type=float,
        default=0.0,
        help="simulated seconds: a release of a room its people entered less than this before counts as "
        "releases_as_people_arrived, not as a false release (the sensing path's latency times the speed); default 0",
    )
    releases.set_defaults(handler=cmd_score_releases)
    waits = score_commands.add_parser(
        "waits", help="the queue's shown wait ranges against the residents' waits, and its numbering, on a day: JSON"
    )
    waits.add_argument("--truth", type=Path, required=True, help="the scenario's truth.json")
    waits.add_argument("--database-url", default=None, help="libpq conninfo; default SC_DATABASE_URL")
    waits.add_argument(
        "--tolerance-s",
        type=float,
        default=0.0,
        help="simulated seconds: a served ticket's wait this far outside the range shown at issue still counts as "
        "within it (the queue path's latency times the speed); default 0",
    )
    waits.set_defaults(handler=cmd_score_waits)

    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="what", required=True, metavar="WHAT")
    migrate = db_commands.add_parser(
        "migrate", parents=[site_file], help="apply migrations (idempotent) and write the site file's catalogue"
    )
    migrate.add_argument("--database-url", default=None, help="libpq conninfo; default SC_DATABASE_URL")
    migrate.set_defaults(handler=cmd_db_migrate)
    add_db_reader_commands(db_commands)

    site = commands.add_parser("site", help="site files")
    site_commands = site.add_subparsers(dest="what", required=True, metavar="WHAT")
    check = site_commands.add_parser("check", parents=[site_file], help="validate a site file and summarise it")
    check.set_defaults(handler=cmd_site_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.handler(args)
    except ValidationError as exc:  # settings from the environment or the command line
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        print(f"smartcomplex: bad settings: {problems}", file=sys.stderr)
        return 2
    except DatabaseError as exc:
        print(f"smartcomplex: database: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
