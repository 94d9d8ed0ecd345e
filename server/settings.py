"""The server's settings: one object built in ``main`` (or by the caller of ``create_app``), from SC_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SC_", frozen=True)

    environment: Literal["development", "production"] = "development"
    database_url: str = Field(
        default="host=127.0.0.1 port=5432 user=postgres dbname=smartcomplex", description="libpq conninfo or URL"
    )
    mqtt_url: str = Field(default="mqtt://127.0.0.1:1883", description="the centre's broker")
    topic_root: str = "sc"
    site_file: Path | None = Field(default=None, description="site file; the shipped belt when absent")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    ingest_enabled: bool = True
    ingest_client_id: str = Field(default="sc-server-ingest", description="persistent MQTT session of the ingest")
    ingest_batch_max: int = Field(default=5000, ge=1, description="messages written per transaction at most")
    # A space whose newest reading is older than this is "unknown", never "empty". Sensors report every 60 s.
    occupancy_stale_after_s: float = Field(default=180.0, gt=0)
    # Envelopes stamped further ahead of the server's clock than this are refused (clock skew allowance).
    max_future_skew_s: float = Field(default=300.0, gt=0)
