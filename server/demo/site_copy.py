"""The demo's copy of the site file: every Modbus device moved to a free port on loopback, where its simulator runs.

This is how a real device replaces its simulator, and back: by configuration alone. The shipped file names the
installed devices' addresses (placeholders for now); the demo writes ``<data dir>/site.yaml`` with the same belt and
``127.0.0.1:<port>`` for each Modbus device, and hands that file to the server, the edge agents and the scenario.
A second run keeps the ports of the first where they are still free.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from devices.site import SHIPPED_SITE_FILE, Belt, load_belt
from server.demo.services import DEVICE_PORTS, free_port, port_is_free

LOOPBACK = "127.0.0.1"
HEADER = (
    "# Written by `smartcomplex demo` from {source}: the same belt, with every Modbus device moved to loopback,\n"
    "# where the demo's simulators serve it. Regenerated on every demo run; edit the source file instead.\n"
)


def device_port(taken: set[int], rng: random.Random) -> int:
    """A free TCP port on loopback for a simulated Modbus device, below the ephemeral range (services.py says why)
    and not in ``taken``."""
    for _ in range(1000):
        port = free_port(lowest=DEVICE_PORTS[0], below=DEVICE_PORTS[1], rng=rng)
        if port not in taken:
            return port
    raise OSError(f"no free port in {DEVICE_PORTS[0]}..{DEVICE_PORTS[1] - 1} for a simulated device")


def _source_text(source: Path | None) -> tuple[str, str]:
    if source is None:
        return SHIPPED_SITE_FILE, resources.files("devices.sites").joinpath(SHIPPED_SITE_FILE).read_text("utf-8")
    return str(source), source.read_text("utf-8")


def _previous_ports(copy: Path) -> dict[str, int]:
    """Device id -> port in an earlier copy, so a second run keeps its ports (and the edge its connections)."""
    try:
        document = yaml.safe_load(copy.read_text("utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    ports: dict[str, int] = {}
    for site in document.get("sites", []) if isinstance(document, dict) else []:
        for device in site.get("devices", []) or []:
            if isinstance(device, dict) and device.get("transport") == "modbus" and isinstance(device.get("port"), int):
                ports[str(device.get("id"))] = device["port"]
    return ports


def write_simulated_site_file(source: Path | None, copy: Path) -> Belt:
    """Write the loopback copy of ``source`` (the shipped file when None) to ``copy`` and return its belt.

    The source is validated first (SiteFileError names its line); the copy is validated again after writing.
    """
    load_belt(source)
    name, text = _source_text(source)
    document: dict[str, Any] = yaml.safe_load(text)
    previous = _previous_ports(copy)
    taken: set[int] = set()
    rng = random.Random()
    for site in document["sites"]:
        for device in site.get("devices", []) or []:
            if device.get("transport") != "modbus":
                continue
            port = previous.get(device["id"])
            if port is None or port in taken or not port_is_free(port):
                port = device_port(taken, rng)
            taken.add(port)
            device["host"], device["port"], device["unit"] = LOOPBACK, port, 1
    copy.parent.mkdir(parents=True, exist_ok=True)
    partial = copy.with_suffix(".partial")
    body = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120)
    partial.write_text(HEADER.format(source=name) + body, encoding="utf-8")
    partial.replace(copy)
    return load_belt(copy)
