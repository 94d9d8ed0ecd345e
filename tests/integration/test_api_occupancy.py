"""The occupancy API over a real database: live state per space and site, history, and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.site import load_belt
from server.api.deps import get_now
from server.app import create_app
from server.db.migrate import apply_migrations
from server.db.readings import StoredReading, insert_readings
from server.settings import ServerSettings

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SHARING = "complex-sharing-space-occupancy"
SCHOOL = "complex-party-school-occupancy"
DAY_CARE = "complex-day-care-occupancy"


def stored(device_id: str, space_id: str, seq: int, ts: datetime, people: int) -> StoredReading:
    return StoredReading(
        device_id=device_id,
        seq=seq,
        ts=ts,
        received_at=ts,
        site_id="complex",
        space_id=space_id,
        people=people,
        occupied=people > 0,
        regions_json="[]",
    )


@pytest.fixture
def client(pg_dsn: str) -> Iterator[TestClient]:
    apply_migrations(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        insert_readings(
            conn,
            readings=[
                stored(SHARING, "sharing-space", 1, NOW - timedelta(minutes=30), 12),
                stored(SHARING, "sharing-space", 2, NOW - timedelta(minutes=20), 18),
                stored(SHARING, "sharing-space", 3, NOW - timedelta(seconds=30), 9),
                stored(SCHOOL, "party-school", 1, NOW - timedelta(seconds=10), 0),
                stored(DAY_CARE, "day-care", 1, NOW - timedelta(hours=1), 14),
            ],
        )
        conn.commit()
    app = create_app(ServerSettings(database_url=pg_dsn, ingest_enabled=False), belt=load_belt())
    app.dependency_overrides[get_now] = lambda: NOW
    with TestClient(app) as test_client:
        yield test_client


def test_one_space_reports_its_latest_count_and_why(client: TestClient) -> None:
    response = client.get("/api/v1/sites/complex/spaces/sharing-space/occupancy")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "occupied"
    assert body["people"] == 9
    assert body["capacity"] >= 1
    assert body["age_s"] == 30.0
    assert body["observed_at"] == "2026-11-27T01:59:30Z"
    assert SHARING in body["reason"]


def test_the_whole_site_lists_every_space_with_unknown_where_evidence_is_missing_or_stale(client: TestClient) -> None:
    response = client.get("/api/v1/sites/complex/occupancy")
    assert response.status_code == 200
    by_space = {row["space_id"]: row for row in response.json()}
    belt = load_belt()
    assert set(by_space) == {space.id for space in belt.site("complex").spaces}
    assert by_space["sharing-space"]["state"] == "occupied"
    assert by_space["party-school"]["state"] == "empty"
    assert (by_space["day-care"]["state"], by_space["day-care"]["people"]) == ("unknown", 14)
    assert "stale" in by_space["day-care"]["reason"]
    assert by_space["experience-hall"]["state"] == "unknown"
    assert by_space["experience-hall"]["reason"].startswith("no reading yet")


def test_history_returns_buckets_over_the_range(client: TestClient) -> None:
    response = client.get(
        "/api/v1/sites/complex/spaces/sharing-space/occupancy/history",
        params={"from": (NOW - timedelta(hours=1)).isoformat(), "to": NOW.isoformat(), "bucket_s": 900},
    )
    assert response.status_code == 200
    points = [(p["bucket"], p["avg_people"], p["max_people"], p["readings"]) for p in response.json()]
    # Readings at 01:30 (12) and 01:40 (18) share the 01:30 bucket; 01:59:30 (9) falls in the 01:45 one.
    assert points == [("2026-11-27T01:30:00Z", 15.0, 18, 2), ("2026-11-27T01:45:00Z", 9.0, 9, 1)]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/sites/nowhere/occupancy", 404),
        ("/api/v1/sites/complex/spaces/nowhere/occupancy", 404),
        (
            "/api/v1/sites/complex/spaces/sharing-space/occupancy/history?from=2026-11-27T00:00:00&to=2026-11-27T01:00:00Z",
            422,
        ),
        (
            "/api/v1/sites/complex/spaces/sharing-space/occupancy/history?from=2026-11-27T01:00:00Z&to=2026-11-27T00:00:00Z",
            422,
        ),
        (
            "/api/v1/sites/complex/spaces/sharing-space/occupancy/history?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            422,
        ),
        (
            "/api/v1/sites/complex/spaces/sharing-space/occupancy/history?from=2026-11-27T00:00:00Z&to=2026-11-27T01:00:00Z&bucket_s=5",
            422,
        ),
    ],
    ids=["unknown-site", "unknown-space", "naive-time", "reversed-range", "range-too-long", "bucket-too-small"],
)
def test_wrong_requests_get_a_clear_refusal(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.json()["detail"]


def test_sites_and_their_spaces_are_listed(client: TestClient) -> None:
    sites = client.get("/api/v1/sites").json()
    assert "complex" in {site["id"] for site in sites}
    spaces = {space["id"]: space for space in client.get("/api/v1/sites/complex/spaces").json()}
    assert spaces["sharing-space"]["bookable"] is True
    assert SHARING in spaces["sharing-space"]["devices"]


def test_health_is_ok_with_the_database_and_the_openapi_document_is_served(client: TestClient) -> None:
    health = client.get("/api/v1/health")
    assert (health.status_code, health.json()["database"]) == (200, "postgresql")
    document: dict[str, Any] = client.get("/openapi.json").json()
    assert "/api/v1/sites/{site_id}/spaces/{space_id}/occupancy" in document["paths"]


def test_health_is_degraded_when_the_database_is_unreachable() -> None:
    settings = ServerSettings(
        database_url="host=127.0.0.1 port=1 user=postgres dbname=none connect_timeout=1", ingest_enabled=False
    )
    with TestClient(create_app(settings, belt=load_belt())) as test_client:
        health = test_client.get("/api/v1/health")
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
