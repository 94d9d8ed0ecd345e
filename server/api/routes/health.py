"""Is the server able to do its work: database reachable, ingest connected and writing."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from server.db.errors import DatabaseError
from server.db.migrate import database_mode

router = APIRouter(prefix="/api/v1", tags=["health"])


class HealthPublic(BaseModel):
    status: str
    database: str
    ingest: dict[str, object] | None


@router.get("/health")
def health(request: Request, response: Response) -> HealthPublic:
    database = "unreachable"
    try:
        with request.app.state.pool.connection(timeout=2) as connection:
            database = database_mode(connection)
    except (psycopg.Error, DatabaseError) as exc:  # the pool's PoolTimeout is a psycopg.Error
        database = f"unreachable: {type(exc).__name__}"
    ingest = request.app.state.ingest
    ingest_stats = None
    ok = not database.startswith("unreachable")
    if ingest is not None:
        ingest_stats = {"mqtt_connected": ingest.mqtt_connected, **ingest.stats_snapshot()}
        ok = ok and ingest.mqtt_connected and bool(ingest_stats["database_ok"])
    if not ok:
        response.status_code = 503
    return HealthPublic(status="ok" if ok else "degraded", database=database, ingest=ingest_stats)
