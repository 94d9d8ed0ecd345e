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
    # A demo's simulated clock (devices/clock_anchor.py, written by the scenario); None: the wall clock.
    simulated_clock_file: Path | None = None
    # The release scheduler (server/release/): any number of replicas may run it on one database.
    scheduler_enabled: bool = True
    scheduler_id: str | None = Field(default=None, description="names this replica in room_schedule; None: random")
    # Default release mode of spaces without a policy row: enforce, shadow or off.
    release_default_mode: Literal["off", "shadow", "enforce"] = "enforce"
    # How often a space is looked at between deadlines, on the server's clock (seconds): with a booking in
    # progress or people present, and otherwise.
    scheduler_active_cadence_s: float = Field(default=30.0, gt=0, le=600)
    scheduler_idle_cadence_s: float = Field(default=120.0, gt=0, le=3600)
    # The scheduler sleeps at most this long on the wall clock, so it notices deadlines other replicas set (s).
    scheduler_max_sleep_s: float = Field(default=1.0, gt=0, le=60)
    # Bearer tokens from POST /api/v1/auth/token last this long on the wall clock (hours).
    token_ttl_h: float = Field(default=24 * 7, gt=0)
    # Booking rules per role (residents; Party branch organisers): future bookings held at once, days ahead.
    resident_max_active_bookings: int = Field(default=4, ge=0)
    organiser_max_active_bookings: int = Field(default=60, ge=0)
    resident_booking_horizon_days: int = Field(default=30, ge=1)
    organiser_booking_horizon_days: int = Field(default=120, ge=1)
    # Longest booking (hours) and the booking grid (minutes): starts and ends on multiples of it, local time.
    max_booking_h: float = Field(default=8.0, gt=0, le=24)
    booking_grid_min: int = Field(default=15, ge=1, le=60)
