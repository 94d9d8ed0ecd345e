"""Grafana dashboards as code and pandas reports for facility staff (built by a later issue; nothing here yet)."""
