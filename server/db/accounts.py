"""Accounts and their bearer tokens (``account``, ``api_token``)."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import tuple_row

from server.auth.secrets import new_token, token_digest
from server.db.errors import DatabaseError, translated_errors
from server.domain.accounts import Account, Role

_COLUMNS = "id, login, display_name, role, site_id"


class AccountExists(DatabaseError):
    """Another account has that login."""


def _account(row: tuple[object, ...]) -> Account:
    id_, login, display_name, role, site_id = row
    site = None if site_id is None else str(site_id)
    return Account(int(str(id_)), str(login), str(display_name), Role(str(role)), site)


def create_account(
    connection: psycopg.Connection,
    *,
    login: str,
    display_name: str,
    role: Role,
    site_id: str | None = None,
    password_hash: str | None = None,
) -> Account:
    """A new account; AccountExists when the login is taken. Commits nothing: the caller's transaction does."""
    try:
        with translated_errors("creating an account"), connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(
                f"INSERT INTO account (login, display_name, role, site_id, password_hash)"
                f" VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (login, display_name, role.value, site_id, password_hash),
            )
            row = cursor.fetchone()
    except DatabaseError as exc:
        if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
            raise AccountExists(f"an account with login {login!r} exists") from exc.__cause__
        raise
    assert row is not None
    return _account(row)


def account_by_login(connection: psycopg.Connection, login: str) -> tuple[Account, str | None] | None:
    """The enabled account with ``login`` and its password hash; None when there is none."""
    with translated_errors("reading an account"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(f"SELECT {_COLUMNS}, password_hash FROM account WHERE login = %s AND NOT disabled", (login,))
        row = cursor.fetchone()
    if row is None:
        return None
    return _account(row[:5]), row[5]


def account_by_id(connection: psycopg.Connection, account_id: int) -> Account | None:
    with translated_errors("reading an account"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(f"SELECT {_COLUMNS} FROM account WHERE id = %s", (account_id,))
        row = cursor.fetchone()
    return None if row is None else _account(row)


def issue_token(
    connection: psycopg.Connection, *, account_id: int, now: datetime, expires_at: datetime | None, label: str = ""
) -> str:
    """A new bearer token for the account (returned once; only its digest is stored)."""
    token = new_token()
    with translated_errors("issuing a token"):
        connection.execute(
            "INSERT INTO api_token (token_hash, account_id, label, created_at, expires_at) VALUES (%s, %s, %s, %s, %s)",
            (token_digest(token), account_id, label, now, expires_at),
        )
    return token


def account_for_token(connection: psycopg.Connection, token: str, *, now: datetime) -> Account | None:
    """The enabled account a live token belongs to; None for an unknown, expired or revoked token.

    ``now`` is the wall clock: tokens expire in real time, whatever clock the bookings run on."""
    with translated_errors("checking a token"), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(
            f"SELECT {', '.join('a.' + c for c in _COLUMNS.split(', '))}"
            " FROM api_token t JOIN account a ON a.id = t.account_id"
            " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > %s)"
            " AND NOT a.disabled",
            (token_digest(token), now),
        )
        row = cursor.fetchone()
    return None if row is None else _account(row)


def revoke_token(connection: psycopg.Connection, token: str, *, now: datetime) -> bool:
    with translated_errors("revoking a token"):
        cursor = connection.execute(
            "UPDATE api_token SET revoked_at = %s WHERE token_hash = %s AND revoked_at IS NULL",
            (now, token_digest(token)),
        )
    return cursor.rowcount == 1
