"""``smartcomplex db reader-password``: give grafana_reader (migration 0008) its password and let it log in.

The password comes from SC_GRAFANA_DB_PASSWORD (docker-compose.yml's one-shot service ``grafana-reader``; never
from the command line, where ``ps`` would show it), the database from SC_DATABASE_URL unless ``--database-url``
says otherwise. libpq turns the password into a SCRAM-SHA-256 verifier on this side (PQencryptPasswordConn), and
only the verifier is sent: the password itself never reaches the server's statement log, pg_stat_activity or
pg_stat_statements, and it is never printed. Roles are cluster-wide: the password holds for every database of
the cluster, while what the role may read is granted per database by the migrations.

Exit status 2 with one line for a missing or short password, 1 when the role does not exist (migrate first) or the
database cannot be reached (server.cli.main maps DatabaseError).
"""

from __future__ import annotations

import argparse
import os
import sys

READER_ROLE = "grafana_reader"
PASSWORD_VARIABLE = "SC_GRAFANA_DB_PASSWORD"
MIN_PASSWORD_LENGTH = 16


def password_problem(password: str) -> str | None:
    """Why this password is refused, or None."""
    if not password:
        return f"{PASSWORD_VARIABLE} is empty or not set: it holds grafana_reader's database password"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"{PASSWORD_VARIABLE} is shorter than {MIN_PASSWORD_LENGTH} characters: use a longer password"
    return None


def cmd_db_reader_password(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg import sql

    from server.db.errors import translated_errors
    from server.settings import ServerSettings

    password = os.environ.get(PASSWORD_VARIABLE, "")
    problem = password_problem(password)
    if problem is not None:
        print(f"smartcomplex: {problem}", file=sys.stderr)
        return 2
    settings = ServerSettings() if args.database_url is None else ServerSettings(database_url=args.database_url)
    with translated_errors(f"set the password of {READER_ROLE}"), psycopg.connect(settings.database_url) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,)).fetchone() is None:
            print(
                f"smartcomplex: there is no role {READER_ROLE}: run `smartcomplex db migrate` on this database first",
                file=sys.stderr,
            )
            return 1
        verifier = conn.pgconn.encrypt_password(password.encode(), READER_ROLE.encode(), b"scram-sha-256")
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(READER_ROLE), sql.Literal(verifier.decode("ascii"))
            )
        )
    print(f"{READER_ROLE}: password set, login allowed")
    return 0


def add_db_reader_commands(db_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``reader-password`` under the ``db`` command group."""
    reader = db_commands.add_parser(
        "reader-password",
        help=f"set {READER_ROLE}'s password from {PASSWORD_VARIABLE} and allow it to log in (Grafana's data source)",
    )
    reader.add_argument("--database-url", default=None, help="libpq conninfo; default SC_DATABASE_URL")
    reader.set_defaults(handler=cmd_db_reader_password)
