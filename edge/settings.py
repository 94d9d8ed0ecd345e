"""The edge agent's settings: one object, built in ``main`` from the environment (SC_EDGE_*) and the command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SC_EDGE_", frozen=True)

    site_id: str = Field(description="the site this agent serves, as named in the site file")
    site_file: Path | None = Field(default=None, description="site file; the shipped belt when absent")
    site_broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="where the site's devices publish")
    central_broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="the centre's broker")
    topic_root: str = "sc"
    state_dir: Path = Field(default=Path("var/edge"), description="sequence numbers (and later the outbox) live here")
