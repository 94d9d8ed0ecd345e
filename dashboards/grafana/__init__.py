"""Grafana dashboards as code: specs of panels and their SQL, rendered to JSON with Grafana's foundation SDK."""
