"""The edge agent's settings: one object, built in ``main`` from the environment (SC_EDGE_*) and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge.outbox import DEFAULT_MAX_ROWS
from edge.outbox_reporter import DEFAULT_REPORT_INTERVAL_S


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SC_EDGE_", frozen=True)

    site_id: str = Field(description="the site this agent serves, as named in the site file")
    site_file: Path | None = Field(default=None, description="site file; the shipped belt when absent")
    site_broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="where the site's devices publish")
    central_broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="the centre's broker")
    topic_root: str = "sc"
    state_dir: Path = Field(default=Path("var/edge"), description="the outbox (with sequence numbers) lives here")
    # 200,000 envelopes of ~300 bytes is ~60 MB on disk: the belt's 14 devices reporting once a minute fill it in
    # about ten days of outage; past it the oldest telemetry goes first (door events and command results never).
    clock_file: Path | None = Field(
        default=None,
        description="a demo's simulated clock anchor (devices/clock_anchor.py): the site queue runs on that clock",
    )
    outbox_max_rows: int = Field(default=DEFAULT_MAX_ROWS, ge=1, description="outbox bound, in envelopes")
    uplink_window: int = Field(default=1000, ge=1, description="envelopes sent and not yet confirmed, at most")
    confirm_timeout_s: float = Field(default=30.0, gt=0, description="wait for a confirmation before re-sending")
    max_confirm_timeout_s: float = Field(default=300.0, gt=0, description="the wait doubles up to this")
    outbox_report_interval_s: float = Field(
        default=DEFAULT_REPORT_INTERVAL_S,
        gt=0,
        allow_inf_nan=False,
        description="how often the outbox's depth is sampled and sent to the centre (kept 2 hours while it is away)",
    )

    @model_validator(mode="after")
    def _timeouts_ordered(self) -> Self:
        if self.confirm_timeout_s > self.max_confirm_timeout_s:
            raise ValueError("confirm_timeout_s must not exceed max_confirm_timeout_s")
        return self
