"""Shared fixtures: the machine's real PostgreSQL, each test in its own database.

The default matches the development machine and `.ci/run` (PostgreSQL on 127.0.0.1:5432 with trust auth);
override it with SC_TEST_PG_DSN (a libpq conninfo for a maintenance database). Tests that need a broker start a
private Mosquitto (server.demo.PrivateMosquitto): the edge agent and the ingest keep persistent sessions, which must
not pile up on a shared broker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

PG_ADMIN_DSN = os.environ.get("SC_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A conninfo for a brand-new, empty database that is dropped after the test."""
    name = f"sc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = psycopg.conninfo.make_conninfo(PG_ADMIN_DSN, dbname=name)
    try:
        yield dsn
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
