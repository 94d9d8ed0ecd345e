"""``smartcomplex deploy``: the files the production stack (docker-compose.yml) needs, and its edge healthcheck.

- ``deploy broker-auth --out DIR``: the broker's password file, ACL file and credentials for the site file;
- ``deploy init``: that, into deploy/secrets/mosquitto/, plus the stack's ``.env``; then ``docker compose up``;
- ``deploy check-edge``: exit 0 when this container's edge agent is online at the central broker.

Paths are relative to the working directory: run them from the repository root, where docker-compose.yml is.
Nothing secret is printed. A bad file ends with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from devices.topics import TOPIC_ROOT
from server.deploy import DeployError

if TYPE_CHECKING:
    from server.deploy.broker_auth import BrokerAuth

DEFAULT_BROKER_DIR = Path("deploy/secrets/mosquitto")
DEFAULT_ENV_FILE = Path(".env")


def _refuse(problem: str) -> int:
    print(f"smartcomplex: {problem}", file=sys.stderr)
    return 2


def _write_broker_auth(args: argparse.Namespace, directory: Path) -> BrokerAuth:
    from devices.site import SiteFileError, load_belt
    from server.deploy.broker_auth import write_broker_auth

    try:
        belt = load_belt(args.site_file)
    except SiteFileError as exc:
        raise DeployError(f"bad site file: {exc}") from None
    source = str(args.site_file) if args.site_file is not None else "the shipped site file"
    auth = write_broker_auth(belt, directory, root=args.topic_root, source=source)
    roles = sorted({user.role for user in auth.users})
    counts = ", ".join(f"{sum(user.role == role for user in auth.users)} {role}" for role in roles)
    print(f"broker users: {len(auth.users)} ({counts}) in {directory}/{{passwd,acl,credentials.env}}")
    print(f"  added: {_names(auth.added)}; dropped: {_names(auth.removed)}")
    return auth


def _names(names: tuple[str, ...], shown: int = 6) -> str:
    if len(names) <= shown:
        return ", ".join(names) or "none"
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def cmd_deploy_broker_auth(args: argparse.Namespace) -> int:
    try:
        _write_broker_auth(args, args.out)
    except DeployError as exc:
        return _refuse(str(exc))
    print("restart the broker to load them: docker compose restart mosquitto")
    return 0


def cmd_deploy_init(args: argparse.Namespace) -> int:
    from server.deploy.broker_auth import new_password
    from server.deploy.env_file import program_passwords, update_env_file

    try:
        auth = _write_broker_auth(args, args.broker_dir)
        update = update_env_file(
            args.env_file, mqtt=program_passwords(auth.users, auth.passwords), make_secret=new_password
        )
    except DeployError as exc:
        return _refuse(str(exc))
    print(f"{args.env_file}: added {_names(update.added)}; updated {_names(update.replaced)}; kept {len(update.kept)}")
    print("next: docker compose up -d --build (and, if the broker was running: docker compose restart mosquitto)")
    return 0


def cmd_deploy_check_edge(args: argparse.Namespace) -> int:
    from devices.broker import parse_broker_url
    from server.deploy.edge_check import EdgeCheckSettings, agent_status

    settings = EdgeCheckSettings() if args.site is None else EdgeCheckSettings(site_id=args.site)
    try:
        central = parse_broker_url(settings.central_broker_url)
    except ValueError as exc:
        return _refuse(str(exc))
    status = agent_status(central, settings.site_id, root=settings.topic_root, timeout_s=args.timeout)
    print(status.reason)
    return 0 if status.healthy else 1


def add_deploy_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], *, site_file: argparse.ArgumentParser
) -> None:
    """The ``deploy`` group; ``site_file`` is the parent parser giving --site-file."""
    deploy = commands.add_parser("deploy", help="files of the production stack (docker-compose.yml)")
    deploy_commands = deploy.add_subparsers(dest="what", required=True, metavar="WHAT")
    topic_root = argparse.ArgumentParser(add_help=False)
    topic_root.add_argument("--topic-root", default=TOPIC_ROOT, help=f"MQTT topic root (default {TOPIC_ROOT})")

    broker_auth = deploy_commands.add_parser(
        "broker-auth",
        parents=[site_file, topic_root],
        help="Mosquitto password and ACL files and credentials.env for every device, edge agent and program",
    )
    broker_auth.add_argument("--out", type=Path, required=True, help="directory to write them to (created 0700)")
    broker_auth.set_defaults(handler=cmd_deploy_broker_auth)

    init = deploy_commands.add_parser(
        "init",
        parents=[site_file, topic_root],
        help="broker files and .env with every secret of the stack; keeps what exists; then: docker compose up",
    )
    init.add_argument("--broker-dir", type=Path, default=DEFAULT_BROKER_DIR, help=f"default {DEFAULT_BROKER_DIR}")
    init.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE, help=f"default {DEFAULT_ENV_FILE}")
    init.set_defaults(handler=cmd_deploy_init)

    check_edge = deploy_commands.add_parser(
        "check-edge", help="exit 0 when the edge agent is online at its central broker (SC_EDGE_* settings)"
    )
    check_edge.add_argument("--site", default=None, help="site id (or SC_EDGE_SITE_ID)")
    check_edge.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for the broker, then for the status"
    )
    check_edge.set_defaults(handler=cmd_deploy_check_edge)
