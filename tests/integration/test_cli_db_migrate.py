"""``smartcomplex db migrate`` against a real database: the second run applies nothing."""

from __future__ import annotations

import re

import pytest

from server.cli import main


def test_db_migrate_is_idempotent(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "migrate", "--database-url", pg_dsn]) == 0
    first = capsys.readouterr().out
    assert main(["db", "migrate", "--database-url", pg_dsn]) == 0
    second = capsys.readouterr().out
    applied = re.match(r"applied (\d+) migration\(s\)", first)
    assert applied is not None, first
    assert int(applied.group(1)) >= 2
    assert "mode: plain PostgreSQL" in first
    assert second.startswith(f"applied 0 migration(s) []; {applied.group(1)} already applied")
