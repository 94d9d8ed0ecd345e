"""Grafana dashboards as code (grafana/, generated JSON in generated/, provisioning/), the pandas reports (reports/)
and `dashboards push`. Talks to the database by SQL only; imports ``devices`` at most."""

from pathlib import Path

# The dashboards' generated JSON, committed; Grafana's file provisioning reads this folder (docker-compose.yml).
GENERATED_DIR = Path(__file__).resolve().parent / "generated"
