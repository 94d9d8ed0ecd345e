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
    commands_enabled: bool = True
    # Each server process publishes commands on its own clean MQTT session; None: "sc-server-commands-<random>",
    # so that replicas never take over each other's connection.
    command_client_id: str | None = None
    # A command not carried out by then is never carried out (the edge answers "expired"): a door is never unlocked
    # late. Seconds.
    command_ttl_s: float = Field(default=30.0, gt=0, le=3600)
    # Past its expiry plus this, a command with no answer reads as "unanswered" (seconds; see server/commands.py).
    command_answer_grace_s: float = Field(default=15.0, ge=0, le=600)
