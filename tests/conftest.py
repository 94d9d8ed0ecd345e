"""Shared fixtures: the machine's real PostgreSQL and Mosquitto, each test in its own database.

Defaults match the development machine and `.ci/run` (PostgreSQL on 127.0.0.1:5432 with trust auth, Mosquitto on
127.0.0.1:1883). Override with SC_TEST_PG_DSN (a libpq conninfo for a maintenance database) and
SC_TEST_MQTT (host:port).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

PG_ADMIN_DSN = os.environ.get("SC_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int


@pytest.fixture(scope="session")
def mqtt_broker() -> BrokerAddress:
    host, _, port = os.environ.get("SC_TEST_MQTT", "127.0.0.1:1883").rpartition(":")
    return BrokerAddress(host=host or "127.0.0.1", port=int(port))


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
