"""The package boundaries of the design card, checked on the source (every import statement, at any depth)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"devices", "edge", "server", "simulators", "dashboards", "tests"}
# Third-party packages devices/ may use: it is shared by every program, so it stays light.
DEVICES_THIRD_PARTY = {"pydantic", "pydantic_core", "yaml", "paho"}
# The only module of server/ that starts the edge agent and the simulators (the command line's composition root).
COMPOSITION_ROOT = "server/cli.py"


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports; relative imports resolve to their own package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add(path.relative_to(ROOT).parts[0])
            elif node.module:
                names.add(node.module)
    return names


def sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources found under {package}/"
    return files


def top(name: str) -> str:
    return name.split(".")[0]


def test_devices_imports_none_of_our_packages_and_only_light_third_party() -> None:
    allowed = set(sys.stdlib_module_names) | DEVICES_THIRD_PARTY | {"devices"}
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources("devices")
        for name in imports_of(path)
        if top(name) not in allowed
    }
    assert not offenders, sorted(offenders)


@pytest.mark.parametrize("package", ["edge", "simulators"])
def test_edge_and_simulators_never_import_server(package: str) -> None:
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources(package)
        for name in imports_of(path)
        if top(name) in OURS - {"devices", package}
    }
    assert not offenders, sorted(offenders)


def test_server_domain_does_no_io() -> None:
    forbidden = {
        "fastapi",
        "starlette",
        "psycopg",
        "psycopg_pool",
        "paho",
        "pymodbus",
        "socket",
        "sqlite3",
        "subprocess",
        "httpx",
        "urllib",
        "requests",
        "server",
    }
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources("server/domain")
        for name in imports_of(path)
        if top(name) in forbidden and not name.startswith("server.domain")
    }
    assert not offenders, sorted(offenders)


def test_only_the_command_line_starts_edge_and_simulators_from_server() -> None:
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources("server")
        if path.relative_to(ROOT).as_posix() != COMPOSITION_ROOT
        for name in imports_of(path)
        if top(name) in {"edge", "simulators"}
    }
    assert not offenders, sorted(offenders)


def test_the_boundary_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    # Guards the checker itself: an import inside a function is found too.
    module = ROOT / "edge" / "_boundary_probe.py"
    module.write_text("def f():\n    from server.app import create_app\n    return create_app\n")
    try:
        assert "server.app" in imports_of(module)
    finally:
        module.unlink()
