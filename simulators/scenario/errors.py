"""Errors of the scenario package."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario that cannot be planned or run as asked: an unknown name, site or start, or a fault scenario
    whose sites have nothing to break (no sensor, no Modbus device, no service hall, no uplink relay)."""
