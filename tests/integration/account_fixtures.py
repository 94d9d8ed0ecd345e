"""Starting the API with no broker (ingest, commands and the scheduler off) and making accounts straight in the
database, for the accounts, notices and policies tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from devices.site import load_belt
from server.app import create_app
from server.auth.secrets import hash_password
from server.db.accounts import create_account, issue_token
from server.domain.accounts import Account, Role
from server.settings import ServerSettings


def api_settings(database: str) -> ServerSettings:
    return ServerSettings(database_url=database, ingest_enabled=False, commands_enabled=False, scheduler_enabled=False)


@contextmanager
def api_client(database: str) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings(database), belt=load_belt())) as client:
        yield client


def make_account(
    database: str,
    login: str,
    role: Role,
    *,
    password: str | None = None,
    site_id: str | None = None,
    token_expires_in: timedelta | None = timedelta(hours=1),
) -> tuple[Account, str]:
    """A new account and a bearer token of it, written straight to the database."""
    with psycopg.connect(database) as connection:
        account = create_account(
            connection,
            login=login,
            display_name=login.title(),
            role=role,
            site_id=site_id,
            password_hash=None if password is None else hash_password(password),
        )
        now = datetime.now(UTC)
        expires_at = None if token_expires_in is None else now + token_expires_in
        token = issue_token(connection, account_id=account.id, now=now, expires_at=expires_at)
    return account, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
