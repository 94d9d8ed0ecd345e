"""Logging in and out: bearer tokens for the OAuth2 password flow.

``POST /api/v1/auth/token`` takes ``username`` and ``password`` as an OAuth2 form
(``application/x-www-form-urlencoded``, parsed here because python-multipart, which FastAPI's form support needs, is
not a dependency of the project) or as a JSON object. Tokens expire ``token_ttl_h`` hours later on the wall clock:
real time, whatever clock the bookings run on in a demo.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.api.deps import AccountDep, ConnectionDep, SettingsDep
from server.auth.secrets import hash_password, verify_password
from server.db.accounts import account_by_login, issue_token, revoke_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_bearer = HTTPBearer(auto_error=False)
_UNAUTHORISED = {"WWW-Authenticate": "Bearer"}
# Longest password accepted (characters): scrypt hashes anything, but a megabyte-long one is an attack, not a login.
MAX_PASSWORD_LENGTH = 1024
_LOGIN_BODY = {
    "required": True,
    "content": {
        media_type: {
            "schema": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string", "format": "password"}},
            }
        }
        for media_type in ("application/x-www-form-urlencoded", "application/json")
    },
}


class LoginForm(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OAuth2 clients also send grant_type, scope, client_id

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


async def read_login_form(request: Request) -> LoginForm:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    fields: Any
    try:
        if media_type == "application/x-www-form-urlencoded":
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        elif media_type == "application/json":
            fields = json.loads(body)
        else:
            raise HTTPException(
                status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                detail="send username and password as a form (application/x-www-form-urlencoded) or as JSON",
            )
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise HTTPException(status_code=422, detail=f"the body is not a readable {media_type} document") from None
    try:
        return LoginForm.model_validate(fields)
    except ValidationError:
        raise HTTPException(
            status_code=422,
            detail=f"username and password are required (a password has at most {MAX_PASSWORD_LENGTH} characters)",
        ) from None


@cache
def _decoy_hash() -> str:
    """A hash checked for unknown logins, so that they take as long as wrong passwords (no login enumeration)."""
    return hash_password("not-a-password-of-anybody")


@router.post(
    "/token",
    openapi_extra={"requestBody": _LOGIN_BODY},
    responses={401: {"description": "wrong login or password"}},
)
def log_in(
    form: Annotated[LoginForm, Depends(read_login_form)], connection: ConnectionDep, settings: SettingsDep
) -> TokenPublic:
    """A bearer token for the account (OAuth2 password flow). No login needed, of course."""
    found = account_by_login(connection, form.username)
    # Accounts with no password (tokens only) are checked against the decoy too: it matches no password.
    stored_hash = found[1] if found is not None and found[1] else _decoy_hash()
    if not verify_password(form.password, stored_hash) or found is None or not found[1]:
        raise HTTPException(status_code=401, detail="wrong login or password", headers=_UNAUTHORISED)
    now = datetime.now(UTC)
    expires_at = now + timedelta(hours=settings.token_ttl_h)
    token = issue_token(connection, account_id=found[0].id, now=now, expires_at=expires_at, label="login")
    connection.commit()
    return TokenPublic(access_token=token, expires_at=expires_at)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def log_out(
    _account: AccountDep,
    connection: ConnectionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Revoke the token this request came with."""
    assert credentials is not None  # AccountDep has checked it
    revoke_token(connection, credentials.credentials, now=datetime.now(UTC))
    connection.commit()
