"""Accounts made outside the API: the first administrator (``smartcomplex accounts create``) and the demo's.

Both run on the wall clock: tokens expire in real time, whatever clock the bookings run on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from server.db.accounts import AccountExists, account_by_login, create_account, issue_token
from server.db.errors import translated_errors
from server.domain.accounts import Account, Role

DEMO_ADMIN_NAME = "Demo administrator"
DEMO_TOKEN_TTL = timedelta(days=7)


class AccountMismatch(ValueError):
    """The login exists with another role or site than asked for."""


def provision_account(
    connection: psycopg.Connection,
    *,
    login: str,
    display_name: str,
    role: Role,
    site_id: str | None = None,
    password_hash: str | None = None,
    exist_ok: bool = False,
) -> tuple[Account, bool]:
    """(the account, whether it was created) in the caller's transaction.

    With ``exist_ok`` an existing account of that login is returned as it is, provided it has the role and site
    asked for (AccountMismatch otherwise); without it, AccountExists."""
    existing = account_by_login(connection, login)
    if existing is None:
        try:
            with connection.transaction():  # a savepoint: a concurrent creator wins the race cleanly
                account = create_account(
                    connection,
                    login=login,
                    display_name=display_name,
                    role=role,
                    site_id=site_id,
                    password_hash=password_hash,
                )
            return account, True
        except AccountExists:
            if not exist_ok:
                raise
            existing = account_by_login(connection, login)
            if existing is None:  # the other account is disabled
                raise
    if not exist_ok:
        raise AccountExists(f"an account with login {login!r} exists")
    account = existing[0]
    if account.role is not role or account.site_id != site_id:
        raise AccountMismatch(
            f"account {login!r} exists as {account.role.value} of site {account.site_id or 'all sites'},"
            f" not {role.value} of site {site_id or 'all sites'}"
        )
    return account, False


def ensure_admin_token(conninfo: str, login: str = "demo-admin", *, ttl: timedelta | None = DEMO_TOKEN_TTL) -> str:
    """A fresh bearer token of the administrator ``login`` (created, with no password, when absent)."""
    with translated_errors("connecting to the database"):
        connection = psycopg.connect(conninfo)
    with connection:  # commits on a clean exit
        account, _created = provision_account(
            connection, login=login, display_name=DEMO_ADMIN_NAME, role=Role.ADMIN, exist_ok=True
        )
        now = datetime.now(UTC)
        return issue_token(
            connection,
            account_id=account.id,
            now=now,
            expires_at=None if ttl is None else now + ttl,
            label="demo",
        )
