"""Accounts through the API against a real PostgreSQL: logging in and out, token expiry and revocation, who may
create which accounts, and service identities bound to a site."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from server.db.migrate import apply_migrations
from server.domain.accounts import Role
from tests.integration.account_fixtures import api_client, bearer, make_account

PASSWORD = "a long enough password"


@pytest.fixture
def database(pg_dsn: str) -> str:
    apply_migrations(pg_dsn)
    return pg_dsn


@pytest.fixture
def client(database: str) -> Iterator[TestClient]:
    with api_client(database) as started:
        yield started


@pytest.fixture
def admin_token(database: str) -> str:
    return make_account(database, "root", Role.ADMIN)[1]


def test_login_with_the_right_password_gives_a_token_that_opens_me(client: TestClient, database: str) -> None:
    account, _ = make_account(database, "wang.fang", Role.RESIDENT, password=PASSWORD)
    before = datetime.now(UTC)
    answer = client.post("/api/v1/auth/token", data={"username": "wang.fang", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    # token_ttl_h (a week by default) on the wall clock
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(days=7) <= expires_at <= datetime.now(UTC) + timedelta(days=7)
    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": account.id,
        "login": "wang.fang",
        "display_name": "Wang.Fang",
        "role": "resident",
        "site_id": None,
    }


def test_login_also_takes_a_json_body(client: TestClient, database: str) -> None:
    make_account(database, "li.na", Role.ORGANISER, password=PASSWORD)
    answer = client.post("/api/v1/auth/token", json={"username": "li.na", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert client.get("/api/v1/me", headers=bearer(answer.json()["access_token"])).json()["role"] == "organiser"


@pytest.mark.parametrize(
    ("username", "password"),
    [("wang.fang", "not the password"), ("nobody", PASSWORD), ("tokens.only", PASSWORD)],
    ids=["wrong-password", "unknown-login", "account-without-password"],
)
def test_a_wrong_login_or_password_answers_401_and_the_same_words(
    client: TestClient, database: str, username: str, password: str
) -> None:
    make_account(database, "wang.fang", Role.RESIDENT, password=PASSWORD)
    make_account(database, "tokens.only", Role.RESIDENT)
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "wrong login or password"
    assert answer.headers["www-authenticate"] == "Bearer"


def test_login_without_credentials_is_refused_clearly(client: TestClient) -> None:
    assert client.post("/api/v1/auth/token", json={"username": "x"}).status_code == 422
    answer = client.post("/api/v1/auth/token", content=b"username=x", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert "form" in answer.json()["detail"]


def test_an_expired_token_answers_401(client: TestClient, database: str) -> None:
    _, token = make_account(database, "late", Role.RESIDENT, token_expires_in=timedelta(seconds=-1))
    answer = client.get("/api/v1/me", headers=bearer(token))
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


def test_logout_revokes_the_token_used_and_only_that_one(client: TestClient, database: str) -> None:
    make_account(database, "wang.fang", Role.RESIDENT, password=PASSWORD)
    first, second = (
        client.post("/api/v1/auth/token", data={"username": "wang.fang", "password": PASSWORD}).json()["access_token"]
        for _ in range(2)
    )
    assert client.post("/api/v1/auth/logout", headers=bearer(first)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(first)).status_code == 401
    assert client.post("/api/v1/auth/logout", headers=bearer(first)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200


def test_me_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers=bearer("made-up")).status_code == 401


def test_an_administrator_creates_accounts_of_every_role_and_a_taken_login_is_409(
    client: TestClient, admin_token: str
) -> None:
    for login, role, site in [
        ("desk.zhao", "staff", "complex"),
        ("boss", "admin", None),
        ("branch.3", "organiser", None),
        ("panel-201", "service", "complex"),
    ]:
        body = {"login": login, "display_name": login, "role": role, "site_id": site}
        answer = client.post("/api/v1/accounts", json=body, headers=bearer(admin_token))
        assert answer.status_code == 201, answer.text
        assert answer.json()["role"] == role
        assert answer.json()["site_id"] == site
    again = client.post(
        "/api/v1/accounts", json={"login": "boss", "display_name": "B", "role": "resident"}, headers=bearer(admin_token)
    )
    assert again.status_code == 409
    assert again.json()["code"] == "account_exists"
    assert "boss" in again.json()["detail"]


def test_an_account_created_with_a_password_can_log_in(client: TestClient, admin_token: str) -> None:
    body = {"login": "zhang.wei", "display_name": "Zhang Wei", "role": "resident", "password": PASSWORD}
    assert client.post("/api/v1/accounts", json=body, headers=bearer(admin_token)).status_code == 201
    answer = client.post("/api/v1/auth/token", data={"username": "zhang.wei", "password": PASSWORD})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"login": "Upper", "display_name": "x", "role": "resident"}, "pattern"),
        ({"login": "ok", "display_name": "", "role": "resident"}, "at least 1"),
        ({"login": "ok", "display_name": "x", "role": "king"}, "resident"),
        ({"login": "ok", "display_name": "x", "role": "resident", "password": "short"}, "at least 8"),
        ({"login": "ok", "display_name": "x", "role": "service"}, "site_id"),
        ({"login": "ok", "display_name": "x", "role": "staff", "site_id": "atlantis"}, "atlantis"),
    ],
    ids=["login", "name", "role", "password", "service-without-site", "unknown-site"],
)
def test_bad_account_input_is_422_saying_what_is_wrong(
    client: TestClient, admin_token: str, body: dict[str, str], words: str
) -> None:
    answer = client.post("/api/v1/accounts", json=body, headers=bearer(admin_token))
    assert answer.status_code == 422
    assert words in answer.text


def test_staff_create_residents_and_organisers_only(client: TestClient, database: str) -> None:
    _, staff_token = make_account(database, "desk.zhao", Role.STAFF, site_id="complex")
    for role in ("resident", "organiser"):
        body = {"login": f"new.{role}", "display_name": "New", "role": role}
        assert client.post("/api/v1/accounts", json=body, headers=bearer(staff_token)).status_code == 201
    for role in ("staff", "admin", "service"):
        body = {"login": f"new.{role}", "display_name": "New", "role": role, "site_id": "complex"}
        answer = client.post("/api/v1/accounts", json=body, headers=bearer(staff_token))
        assert answer.status_code == 403
        assert answer.json()["code"] == "forbidden"
    other_site = {"login": "far.away", "display_name": "F", "role": "resident", "site_id": "affairs-center"}
    assert client.post("/api/v1/accounts", json=other_site, headers=bearer(staff_token)).status_code == 403


def test_a_resident_may_not_create_accounts_nor_look_them_up(client: TestClient, database: str) -> None:
    _, token = make_account(database, "wang.fang", Role.RESIDENT)
    body = {"login": "friend", "display_name": "Friend", "role": "resident"}
    answer = client.post("/api/v1/accounts", json=body, headers=bearer(token))
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"
    assert client.get("/api/v1/accounts", headers=bearer(token)).status_code == 403


def test_staff_look_accounts_up_by_login(client: TestClient, database: str) -> None:
    resident, _ = make_account(database, "wang.fang", Role.RESIDENT)
    _, staff_token = make_account(database, "desk.zhao", Role.STAFF)
    found = client.get("/api/v1/accounts", params={"login": "wang.fang"}, headers=bearer(staff_token))
    assert found.status_code == 200
    assert [account["id"] for account in found.json()] == [resident.id]
    assert client.get("/api/v1/accounts", params={"login": "nobody"}, headers=bearer(staff_token)).json() == []
    everybody = client.get("/api/v1/accounts", headers=bearer(staff_token)).json()
    assert [account["login"] for account in everybody] == ["desk.zhao", "wang.fang"]


def test_a_service_identity_gets_a_token_bound_to_its_site(client: TestClient, admin_token: str) -> None:
    body = {
        "login": "panel-council-hall",
        "display_name": "Council hall panel",
        "role": "service",
        "site_id": "complex",
    }
    created = client.post("/api/v1/accounts", json=body, headers=bearer(admin_token))
    assert created.status_code == 201
    account_id = created.json()["id"]
    issued = client.post(f"/api/v1/accounts/{account_id}/tokens", json={"label": "panel"}, headers=bearer(admin_token))
    assert issued.status_code == 201
    assert issued.json()["expires_at"] is None  # until revoked: a panel cannot log in again
    me = client.get("/api/v1/me", headers=bearer(issued.json()["token"])).json()
    assert (me["login"], me["role"], me["site_id"]) == ("panel-council-hall", "service", "complex")
    # a service identity is no member of staff: it looks nobody up and creates nothing
    service = bearer(issued.json()["token"])
    assert client.get("/api/v1/accounts", headers=service).status_code == 403
    resident = {"login": "x", "display_name": "X", "role": "resident"}
    assert client.post("/api/v1/accounts", json=resident, headers=service).status_code == 403


def test_only_administrators_issue_tokens_and_they_may_expire(client: TestClient, database: str) -> None:
    resident, _ = make_account(database, "wang.fang", Role.RESIDENT)
    _, staff_token = make_account(database, "desk.zhao", Role.STAFF)
    _, admin_token = make_account(database, "root", Role.ADMIN)
    path = f"/api/v1/accounts/{resident.id}/tokens"
    assert client.post(path, json={}, headers=bearer(staff_token)).status_code == 403
    issued = client.post(path, json={"label": "script", "expires_in_s": 3600}, headers=bearer(admin_token))
    assert issued.status_code == 201
    expires_at = datetime.fromisoformat(issued.json()["expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert client.get("/api/v1/me", headers=bearer(issued.json()["token"])).json()["id"] == resident.id
    assert client.post("/api/v1/accounts/999999/tokens", json={}, headers=bearer(admin_token)).status_code == 404
