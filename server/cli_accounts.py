"""``smartcomplex accounts``: accounts made from the command line (the first administrator, service identities).

The database comes from SC_DATABASE_URL (ServerSettings) unless ``--database-url`` says otherwise. Bad input ends
with one line and exit status 2; an unreachable database with exit status 1 (server.cli.main maps DatabaseError).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta

from server.auth.secrets import WeakPassword, hash_password
from server.db.accounts import AccountExists, issue_token
from server.db.accounts_bootstrap import AccountMismatch, provision_account
from server.db.errors import translated_errors
from server.domain.accounts import Role

# As the account table's CHECK.
LOGIN = re.compile(r"[a-z0-9][a-z0-9._@-]{0,62}")


def _refuse(problem: str) -> int:
    print(f"smartcomplex: {problem}", file=sys.stderr)
    return 2


def cmd_accounts_create(args: argparse.Namespace) -> int:
    import psycopg

    from devices.site import SiteFileError, load_belt
    from server.settings import ServerSettings

    settings = ServerSettings() if args.database_url is None else ServerSettings(database_url=args.database_url)
    role = Role(args.role)
    if LOGIN.fullmatch(args.login) is None:
        return _refuse(f"login {args.login!r}: lower case letters, digits and . _ @ -, 63 at most")
    if not 1 <= len(args.name) <= 200:
        return _refuse("--name needs 1 to 200 characters")
    if role is Role.SERVICE and args.site is None:
        return _refuse("a service identity is bound to one site: give --site")
    if args.site is not None:
        try:
            sites = {site.id for site in load_belt(args.site_file).sites}
        except SiteFileError as exc:
            return _refuse(f"bad site file: {exc}")
        if args.site not in sites:
            return _refuse(f"no site {args.site!r} (sites: {', '.join(sorted(sites))})")
    password_hash = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            password_hash = hash_password(password)
        except WeakPassword as exc:
            return _refuse(str(exc))
    with translated_errors("connecting to the database"):
        connection = psycopg.connect(settings.database_url)
    with connection:  # commits on a clean exit, rolls back otherwise
        try:
            account, created = provision_account(
                connection,
                login=args.login,
                display_name=args.name,
                role=role,
                site_id=args.site,
                password_hash=password_hash,
                exist_ok=args.exist_ok,
            )
        except AccountExists:
            return _refuse(f"an account with login {args.login!r} exists (--exist-ok accepts it)")
        except AccountMismatch as exc:
            return _refuse(str(exc))
        if args.token:
            now = datetime.now(UTC)
            # A service identity's token lasts until revoked (a panel cannot log in again); a person's expires.
            expires_at = None if role is Role.SERVICE else now + timedelta(hours=settings.token_ttl_h)
            print(issue_token(connection, account_id=account.id, now=now, expires_at=expires_at, label="cli"))
        else:
            verb = "created" if created else "found"
            print(f"{verb} account {account.id}: {account.login} ({account.role.value})")
    return 0


def add_accounts_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], *, site_file: argparse.ArgumentParser
) -> None:
    """The ``accounts`` group; ``site_file`` is the parent parser giving --site-file (to check --site)."""
    accounts = commands.add_parser("accounts", help="accounts of the API")
    account_commands = accounts.add_subparsers(dest="what", required=True, metavar="WHAT")
    create = account_commands.add_parser(
        "create", parents=[site_file], help="create an account; with --token print a bearer token (only) for it"
    )
    create.add_argument("login", help="lower case letters, digits and . _ @ -")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--site", default=None, help="the account's one site (required for --role service)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    create.add_argument("--token", action="store_true", help="issue a token and print it, and nothing else")
    create.add_argument("--exist-ok", action="store_true", help="an existing account with this role and site is fine")
    create.add_argument("--database-url", default=None, help="libpq conninfo; default SC_DATABASE_URL")
    create.set_defaults(handler=cmd_accounts_create)
