"""Accounts: who I am, staff looking people up, creating accounts, and tokens for service identities.

Administrators create any account; staff create residents and Party branch organisers only (they register people
at the front desk). Tokens expire on the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import AccountDep, AdminDep, BeltDep, ConnectionDep, StaffDep
from server.auth.secrets import MIN_PASSWORD_LENGTH, hash_password
from server.db.account_directory import list_accounts
from server.db.accounts import account_by_id, create_account, issue_token
from server.domain.accounts import Account, Forbidden, Role

router = APIRouter(prefix="/api/v1", tags=["accounts"])

# As the account table's CHECK: lower case, digits and . _ @ -, starting with a letter or digit, 63 at most.
LOGIN_PATTERN = r"^[a-z0-9][a-z0-9._@-]{0,62}$"
# Roles a member of staff may give (administrators give any).
STAFF_GRANTABLE = frozenset({Role.RESIDENT, Role.ORGANISER})
# Longest lifetime of a token an administrator issues with an expiry (seconds): ten years.
MAX_TOKEN_LIFETIME_S = 10 * 366 * 24 * 3600


class AccountPublic(BaseModel):
    id: int
    login: str
    display_name: str
    role: Role
    site_id: str | None


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(pattern=LOGIN_PATTERN, description="lower case letters, digits and . _ @ -; 63 at most")
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    site_id: str | None = Field(default=None, description="the one site of the account; required for 'service'")
    password: str | None = Field(
        default=None, min_length=MIN_PASSWORD_LENGTH, max_length=1024, description="none: it logs in by token only"
    )


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=200, description="what the token is for, e.g. 'panel at room 201'")
    expires_in_s: int | None = Field(default=None, gt=0, le=MAX_TOKEN_LIFETIME_S, description="none: until revoked")


class IssuedToken(BaseModel):
    token: str
    expires_at: datetime | None


def account_public(account: Account) -> AccountPublic:
    return AccountPublic(
        id=account.id,
        login=account.login,
        display_name=account.display_name,
        role=account.role,
        site_id=account.site_id,
    )


def require_may_create(creator: Account, role: Role, site_id: str | None) -> None:
    if creator.role is Role.ADMIN:
        return
    if creator.role is not Role.STAFF:
        raise Forbidden("only staff and administrators create accounts")
    if role not in STAFF_GRANTABLE:
        raise Forbidden(f"staff create residents and organisers only; a {role.value} account needs an administrator")
    if site_id is not None and not creator.covers_site(site_id):
        raise Forbidden(f"you are staff of {creator.site_id}, not of {site_id}")


@router.get("/me")
def read_me(account: AccountDep) -> AccountPublic:
    return account_public(account)


@router.get("/accounts")
def find_accounts(
    _staff: StaffDep,
    connection: ConnectionDep,
    login: Annotated[str | None, Query(max_length=200, description="exactly this login")] = None,
) -> list[AccountPublic]:
    """Enabled accounts by login; with ``login``, the one account that has it (or none)."""
    return [account_public(account) for account in list_accounts(connection, login=login)]


@router.post(
    "/accounts",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"description": "the caller may not give that role"}, 409: {"description": "the login is taken"}},
)
def add_account(body: AccountCreate, creator: AccountDep, connection: ConnectionDep, belt: BeltDep) -> AccountPublic:
    require_may_create(creator, body.role, body.site_id)
    if body.site_id is not None and body.site_id not in {site.id for site in belt.sites}:
        raise HTTPException(status_code=422, detail=f"no site {body.site_id!r}")
    if body.role is Role.SERVICE and body.site_id is None:
        raise HTTPException(status_code=422, detail="a service identity is bound to one site: give its site_id")
    password_hash = None if body.password is None else hash_password(body.password)
    account = create_account(
        connection,
        login=body.login,
        display_name=body.display_name,
        role=body.role,
        site_id=body.site_id,
        password_hash=password_hash,
    )
    connection.commit()
    return account_public(account)


@router.post("/accounts/{account_id}/tokens", status_code=status.HTTP_201_CREATED)
def add_token(account_id: int, body: TokenCreate, _admin: AdminDep, connection: ConnectionDep) -> IssuedToken:
    """A bearer token for the account (a service identity's, or one for a script acting as the account). The token
    is shown once: only its digest is kept."""
    if account_by_id(connection, account_id) is None:
        raise HTTPException(status_code=404, detail=f"no account {account_id}")
    now = datetime.now(UTC)
    expires_at = None if body.expires_in_s is None else now + timedelta(seconds=body.expires_in_s)
    token = issue_token(connection, account_id=account_id, now=now, expires_at=expires_at, label=body.label)
    connection.commit()
    return IssuedToken(token=token, expires_at=expires_at)
