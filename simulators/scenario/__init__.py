"""Seeded scenarios: "a day at the Complex" and fault scenarios, played on simulated devices, with ground truth.

Pure: :func:`build_plan` (the day as a frozen timeline), :func:`device_actions` (what each device sees),
:func:`truth_document`. I/O: :func:`run_scenario` (plays a plan on a ScenarioClock), :func:`write_truth`,
:func:`run_scenario_command` (what ``smartcomplex simulate scenario`` calls).
"""

from simulators.scenario.command import DEFAULT_UPLINK_CUT, parse_start, run_scenario_command
from simulators.scenario.drivers import (
    WINDOW_ACTIONS,
    DriverFactory,
    DriverRegistry,
    TicketDispenserDriver,
    WindowTerminalDriver,
)
from simulators.scenario.errors import ScenarioError
from simulators.scenario.faults import FaultOptions, FaultSpec
from simulators.scenario.plan import SCENARIOS, ScenarioPlan, build_plan
from simulators.scenario.runner import RunReport, UplinkSwitch, run_scenario
from simulators.scenario.schedule import device_actions
from simulators.scenario.truth import TRUTH_SCHEMA, truth_document, write_truth

__all__ = [
    "DEFAULT_UPLINK_CUT",
    "SCENARIOS",
    "TRUTH_SCHEMA",
    "WINDOW_ACTIONS",
    "DriverFactory",
    "DriverRegistry",
    "FaultOptions",
    "FaultSpec",
    "RunReport",
    "ScenarioError",
    "ScenarioPlan",
    "TicketDispenserDriver",
    "UplinkSwitch",
    "WindowTerminalDriver",
    "build_plan",
    "device_actions",
    "parse_start",
    "run_scenario",
    "run_scenario_command",
    "truth_document",
    "write_truth",
]
