"""``smartcomplex dashboards``: the dashboards' command group (registered by server/cli.py's build_parser).

- ``dashboards generate`` / ``dashboards check``: the committed JSON from the specs (dashboards/grafana/).
- ``dashboards push``: upload the generated dashboards to a running Grafana (dashboards/push.py).

Grafana's credentials come from --token or --user/--password, else from GRAFANA_TOKEN, else from GRAFANA_USER and
GRAFANA_PASSWORD; the data source's database password (--datasource-url) only from SC_GRAFANA_DB_PASSWORD. Nothing
secret is printed. Bad options end with one line and exit status 2, a failed push with one line and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboards import GENERATED_DIR
from dashboards.grafana.commands import add_generate_commands

FOLDER_TITLE = "Smart Complex"  # as the compose stack's provisioning (dashboards/provisioning/dashboards/)
FOLDER_UID = "smartcomplex"
DATASOURCE_NAME = "Smart Complex"


class PushEnvironment(BaseSettings):
    """What ``dashboards push`` reads from the environment; an empty variable counts as unset."""

    model_config = SettingsConfigDict(frozen=True)

    grafana_token: SecretStr | None = None
    grafana_user: str | None = None
    grafana_password: SecretStr | None = None
    sc_grafana_db_password: SecretStr | None = None


class _Refused(Exception):
    """Options that cannot be used; the message is one line."""


def _secret(value: SecretStr | str | None) -> str:
    return (value.get_secret_value() if isinstance(value, SecretStr) else value) or ""


def grafana_credential(args: argparse.Namespace, environment: PushEnvironment) -> str | tuple[str, str]:
    """A token, or a user and password: the command line first, then the environment."""
    if args.token and args.user:
        raise _Refused("give --token or --user, not both")
    if args.token:
        return str(args.token)
    if args.user:
        password = args.password or _secret(environment.grafana_password)
        if not password:
            raise _Refused("--user needs --password or GRAFANA_PASSWORD")
        return (str(args.user), password)
    if _secret(environment.grafana_token):
        return _secret(environment.grafana_token)
    if _secret(environment.grafana_user) and _secret(environment.grafana_password):
        return (_secret(environment.grafana_user), _secret(environment.grafana_password))
    raise _Refused("no Grafana credentials: give --token (or GRAFANA_TOKEN) or --user and --password")


def _shown(url: str) -> str:
    """The URL without a user or password in it, for messages."""
    parts = urlsplit(url.rstrip("/"))
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def cmd_dashboards_push(args: argparse.Namespace) -> int:
    from dashboards.grafana.sql_query import DATASOURCE_UID, POSTGRES_TYPE
    from dashboards.push import (
        UID,
        GrafanaPusher,
        PostgresDataSource,
        PushedDashboard,
        PushError,
        dashboard_paths,
        grafana_session,
        push_files,
    )

    environment = PushEnvironment()
    url = _shown(args.url)
    try:
        if urlsplit(args.url).scheme not in ("http", "https") or not urlsplit(args.url).hostname:
            raise _Refused(f"--url {url!r} is not an http:// or https:// URL")
        if UID.fullmatch(args.folder_uid) is None:
            raise _Refused("--folder-uid must be 1-40 letters, digits, '-' or '_'")
        credential = grafana_credential(args, environment)
        datasource = None
        if args.datasource_url is not None:
            if not _secret(environment.sc_grafana_db_password):
                raise _Refused("--datasource-url needs SC_GRAFANA_DB_PASSWORD (grafana_reader's database password)")
            datasource = PostgresDataSource(
                uid=DATASOURCE_UID,
                name=DATASOURCE_NAME,
                type=POSTGRES_TYPE,
                host=args.datasource_url,
                database=args.datasource_database,
                user=args.datasource_user,
                password=_secret(environment.sc_grafana_db_password),
                sslmode=args.datasource_sslmode,
                timescaledb=args.datasource_timescaledb,
            )
    except _Refused as exc:
        print(f"smartcomplex: {exc}", file=sys.stderr)
        return 2

    def show(pushed: PushedDashboard) -> None:
        # Grafana answers a path that already holds its sub-path (/grafana/d/...): it goes after the origin.
        link = pushed.url if urlsplit(pushed.url).scheme else f"{_origin(url)}{pushed.url}"
        print(f"{pushed.title} ({pushed.uid}): version {pushed.version}, {link}", flush=True)

    try:
        paths = dashboard_paths(args.dir)
        with grafana_session(args.url, credential) as api:
            pusher = GrafanaPusher(api, url)
            pusher.check_health()
            folder_uid = pusher.ensure_folder(args.folder, args.folder_uid)
            if datasource is not None:
                print(f"data source {datasource.uid} ({datasource.host}): {pusher.ensure_datasource(datasource)}")
            report = push_files(pusher, paths, folder_uid=folder_uid, message=args.message, on_pushed=show)
    except PushError as exc:
        print(f"smartcomplex: {exc}", file=sys.stderr)
        return 1
    if report.failed:
        print(
            f"smartcomplex: {len(report.failed)} of {len(paths)} dashboard files not pushed: "
            + "; ".join(report.failed),
            file=sys.stderr,
        )
        return 1
    return 0


def add_push_command(dashboard_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``push`` under the ``dashboards`` command group."""
    push = dashboard_commands.add_parser(
        "push", help="upload the generated dashboards to a running Grafana through its HTTP API"
    )
    push.add_argument("--url", required=True, help="Grafana's base URL, such as http://grafana.example:3000")
    push.add_argument("--token", default=None, help="a service account token (or GRAFANA_TOKEN)")
    push.add_argument("--user", default=None, help="basic auth user (or GRAFANA_USER)")
    push.add_argument("--password", default=None, help="basic auth password (better: GRAFANA_PASSWORD)")
    push.add_argument("--folder", default=FOLDER_TITLE, help=f"folder title; default {FOLDER_TITLE!r}")
    push.add_argument(
        "--folder-uid", default=FOLDER_UID, help=f"folder uid, created when missing; default {FOLDER_UID}"
    )
    push.add_argument(
        "--dir", type=Path, default=GENERATED_DIR, help="the dashboards' JSON; default dashboards/generated/"
    )
    push.add_argument("--message", default="smartcomplex dashboards push", help="the version message Grafana keeps")
    push.add_argument(
        "--datasource-url",
        default=None,
        metavar="HOST:PORT",
        help="also create or update the PostgreSQL data source the dashboards use, reaching the database here "
        "(password from SC_GRAFANA_DB_PASSWORD)",
    )
    push.add_argument("--datasource-database", default="smartcomplex")
    push.add_argument("--datasource-user", default="grafana_reader")
    push.add_argument(
        "--datasource-sslmode", default="require", choices=["disable", "require", "verify-ca", "verify-full"]
    )
    push.add_argument("--datasource-timescaledb", action="store_true", help="the database runs TimescaleDB")
    push.set_defaults(handler=cmd_dashboards_push)


def add_dashboards_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``dashboards`` command group; each part of dashboards/ adds its subcommands here."""
    dashboards = commands.add_parser("dashboards", help="Grafana dashboards as code")
    dashboard_commands = dashboards.add_subparsers(dest="what", required=True, metavar="WHAT")
    add_generate_commands(dashboard_commands)
    add_push_command(dashboard_commands)
