"""``smartcomplex accounts create`` and the demo's ensure_admin_token against a fresh, real database."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import psycopg
import pytest

from server.auth.secrets import verify_password
from server.cli import main
from server.db.accounts import account_by_login, account_for_token
from server.db.accounts_bootstrap import ensure_admin_token
from server.db.migrate import apply_migrations
from server.demo import free_port
from server.domain.accounts import Role


@pytest.fixture
def database(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    apply_migrations(pg_dsn)
    monkeypatch.setenv("SC_DATABASE_URL", pg_dsn)
    return pg_dsn


def test_create_with_token_prints_only_a_token_of_the_new_account(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["accounts", "create", "first-admin", "--role", "admin", "--name", "First admin", "--token"]) == 0
    token = capsys.readouterr().out
    assert token.count("\n") == 1
    with psycopg.connect(database) as connection:
        account = account_for_token(connection, token.strip(), now=datetime.now(UTC))
    assert account is not None
    assert (account.login, account.role, account.display_name) == ("first-admin", Role.ADMIN, "First admin")


def test_a_taken_login_is_one_line_and_exit_2_unless_exist_ok(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create = ["accounts", "create", "panel-201", "--role", "service", "--name", "Panel", "--site", "complex"]
    assert main(create) == 0
    assert capsys.readouterr().out.startswith("created account ")
    assert main(create) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "exists" in error
    assert main([*create, "--exist-ok", "--token"]) == 0
    token = capsys.readouterr().out.strip()
    with psycopg.connect(database) as connection:
        account = account_for_token(connection, token, now=datetime.now(UTC))
        count = connection.execute("SELECT count(*) FROM account").fetchone()
    assert account is not None
    assert account.site_id == "complex"
    assert count == (1,)
    # --exist-ok accepts the same account only, not one of another role
    assert main(["accounts", "create", "panel-201", "--role", "admin", "--name", "P", "--exist-ok"]) == 2
    assert "exists as service" in capsys.readouterr().err


def test_the_password_comes_from_stdin(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    args = ["accounts", "create", "desk.zhao", "--role", "staff", "--name", "Zhao", "--password-stdin"]
    assert main(args) == 0
    with psycopg.connect(database) as connection:
        found = account_by_login(connection, "desk.zhao")
    assert found is not None
    assert verify_password("a long enough password", found[1])
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["accounts", "create", "desk.qian", "--role", "staff", "--name", "Qian", "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["Bad Login", "--role", "resident", "--name", "X"], "lower case"),
        (["panel", "--role", "service", "--name", "X"], "--site"),
        (["panel", "--role", "service", "--name", "X", "--site", "atlantis"], "no site 'atlantis'"),
        (["someone", "--role", "resident", "--name", ""], "--name"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    database: str, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    assert main(["accounts", "create", *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert words in error
    with psycopg.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM account").fetchone() == (0,)


def test_an_unreachable_database_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SC_DATABASE_URL", f"host=127.0.0.1 port={free_port()} user=postgres connect_timeout=5")
    assert main(["accounts", "create", "admin", "--role", "admin", "--name", "Admin", "--token"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("smartcomplex: database: connecting to the database")
    assert captured.err.count("\n") == 1


def test_ensure_admin_token_creates_the_admin_once_and_issues_fresh_tokens(database: str) -> None:
    first = ensure_admin_token(database)
    second = ensure_admin_token(database)
    assert first != second
    with psycopg.connect(database) as connection:
        for token in (first, second):
            account = account_for_token(connection, token, now=datetime.now(UTC))
            assert account is not None
            assert (account.login, account.role) == ("demo-admin", Role.ADMIN)
        assert connection.execute("SELECT count(*) FROM account").fetchone() == (1,)
