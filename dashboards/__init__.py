"""Grafana dashboards as code (grafana/, generated JSON in generated/, provisioning/), the pandas reports (reports/)
and `dashboards push`. Talks to the database by SQL only; imports ``devices`` at most."""
