"""The production stack (docker-compose.yml and the Dockerfile) agrees with the command line and the site file.

Docker cannot run where the tests run, so nothing here builds or starts a container: the compose file is read
as YAML and every command, address and dependency in it is checked against the code it will run. The schema
check runs `docker compose config` where the compose plugin exists, else check-jsonschema's bundled
compose-spec schema where that is installed, and is skipped (with the reason) where neither is.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from devices.site import load_belt
from server.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
OUR_IMAGE = "smartcomplex"
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
HEALTH_PROBES = {"timescaledb": "pg_isready", "mosquitto": "mosquitto_sub", "server": "/api/v1/health"}
SCHEMA_TIMEOUT_S = 60
BROKER_SETTINGS = {"SC_MQTT_URL", "SC_EDGE_SITE_BROKER_URL", "SC_EDGE_CENTRAL_BROKER_URL"}


@functools.cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{COMPOSE_FILE} is not a YAML mapping"
    return document


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def our_services() -> list[str]:
    return sorted(name for name, service in services().items() if image_name(service) == OUR_IMAGE)


def image_name(service: dict[str, Any]) -> str:
    return str(service.get("image", "")).rpartition(":")[0]


def parsed_command(name: str) -> argparse.Namespace:
    """The service's command as `smartcomplex` (the image's ENTRYPOINT) will parse it."""
    command = services()[name]["command"]
    try:
        return build_parser().parse_args(command)
    except SystemExit as exc:  # argparse prints the reason to stderr, which pytest shows
        pytest.fail(f"{name}: the CLI refuses `smartcomplex {' '.join(command)}` (exit status {exc.code})")


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):  # the list form: ["KEY=value", ...]
        return dict(item.partition("=")[::2] for item in raw)
    return {key: str(value) for key, value in raw.items()}


def dependencies(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}; the short list form means service_started."""
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {target: spec.get("condition", "service_started") for target, spec in raw.items()}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """{target path in the container: source} of the service's short-syntax volumes."""
    found = {}
    for entry in service.get("volumes", []):
        source, target, *_mode = entry.split(":")
        found[target] = source
    return found


def edge_services() -> dict[str, str]:
    """{service name: site id} of every service running `smartcomplex edge`."""
    return {name: parsed_command(name).site for name in our_services() if parsed_command(name).command == "edge"}


def dockerfile_instructions(keyword: str) -> list[str]:
    """Arguments of every `keyword` instruction of the Dockerfile (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [keyword]]


@pytest.mark.parametrize("name", our_services())
def test_every_service_of_our_image_runs_a_command_the_cli_accepts(name: str) -> None:
    service = services()[name]
    assert "entrypoint" not in service, f"{name} must keep the image's ENTRYPOINT, smartcomplex"
    assert isinstance(service["command"], list), f"{name}: write the command as a list, so no shell splits it"
    assert callable(parsed_command(name).handler)


def test_there_is_one_edge_agent_per_site_of_the_shipped_site_file() -> None:
    edges = edge_services()
    site_ids = [site.id for site in load_belt().sites]
    assert sorted(edges.values()) == sorted(site_ids)
    assert all(name == f"edge-{site}" for name, site in edges.items()), edges


def test_each_edge_agent_keeps_its_state_in_a_volume_of_its_own() -> None:
    volumes = compose().get("volumes", {})
    used = []
    for name in edge_services():
        service = services()[name]
        state_dir = environment(service)["SC_EDGE_STATE_DIR"]
        source = mounts(service).get(state_dir)
        assert source in volumes, f"{name}: no named volume mounted at SC_EDGE_STATE_DIR={state_dir}"
        used.append(source)
    assert len(set(used)) == len(used), f"edge agents share a state volume: {used}"


def test_the_image_runs_unprivileged_and_owns_the_edge_state_directory() -> None:
    assert dockerfile_instructions("ENTRYPOINT") == ['["smartcomplex"]']
    user = dockerfile_instructions("USER")[-1].split(":")[0]
    assert user not in {"root", "0"}
    state_dirs = {environment(services()[name])["SC_EDGE_STATE_DIR"] for name in edge_services()}
    assert {f"SC_EDGE_STATE_DIR={state_dir}" for state_dir in state_dirs} <= set(dockerfile_instructions("ENV"))
    # A named volume starts as a copy of the image's directory, ownership included: the image must create
    # the directory, owned by the user the agents run as, or they cannot write their sequence numbers.
    for state_dir in state_dirs:
        assert any(f"-o {user} " in line and state_dir in line.split() for line in dockerfile_instructions("RUN"))


def test_the_dockerfile_copies_every_package_of_the_wheel() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = set(dockerfile_instructions("COPY"))
    assert {f"{package}/ {package}/" for package in packages} <= copied
    # Dependencies are installed from the lock before the code is copied, so a code edit reuses that layer.
    runs = dockerfile_instructions("RUN")
    assert "uv sync --locked --no-dev --no-install-project" in runs
    assert "uv sync --locked --no-dev" in runs


def test_every_dependency_exists_and_waits_on_a_valid_condition() -> None:
    for name, service in services().items():
        for target, condition in dependencies(service).items():
            assert target in services(), f"{name} depends on {target}, which is not a service"
            assert condition in CONDITIONS, f"{name} -> {target}: unknown condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in services()[target], f"{name} waits for {target} to be healthy: no check"
            if condition == "service_completed_successfully":
                assert services()[target].get("restart", "no") == "no", f"{target} is not a one-shot service"
            assert not services()[target].get("profiles"), f"{name} depends on {target}, which is optional"


def test_the_server_starts_after_the_migrations_and_a_healthy_broker() -> None:
    migrate = parsed_command("migrate")
    assert (migrate.command, migrate.what) == ("db", "migrate")
    assert dependencies(services()["migrate"]) == {"timescaledb": "service_healthy"}
    server_waits_for = dependencies(services()["server"])
    assert server_waits_for["migrate"] == "service_completed_successfully"
    assert server_waits_for["mosquitto"] == "service_healthy"
    for name in edge_services():
        assert dependencies(services()[name])["mosquitto"] == "service_healthy"


@pytest.mark.parametrize(("name", "probe"), sorted(HEALTH_PROBES.items()))
def test_database_broker_and_server_have_healthchecks(name: str, probe: str) -> None:
    check = services()[name]["healthcheck"]
    assert not check.get("disable", False)
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert probe in " ".join(check["test"])


def test_the_server_listens_where_its_port_and_healthcheck_point() -> None:
    server = services()["server"]
    args = parsed_command("server")
    assert args.host == "0.0.0.0"
    assert f"127.0.0.1:{args.port}/api/v1/health" in " ".join(server["healthcheck"]["test"])
    assert server["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]
    assert server["restart"] == "unless-stopped"


def test_published_ports_bind_the_loopback_interface_only() -> None:
    # The broker accepts anonymous clients for now, and nothing here is meant for other machines yet.
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


@pytest.mark.parametrize("name", sorted(services()))
def test_every_image_is_pinned_to_a_version(name: str) -> None:
    image = services()[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository, f"{name}: image {image!r} has no tag"
    assert tag != "latest"
    assert re.search(r"\d+\.\d+", tag), f"{name}: tag {tag!r} names no version"


def test_image_tags_match_the_project_and_the_chosen_engines() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert {services()[name]["image"] for name in our_services()} == {f"{OUR_IMAGE}:{version}"}
    assert re.fullmatch(r"timescale/timescaledb:2\.\d+\.\d+-pg15", services()["timescaledb"]["image"])
    assert re.fullmatch(r"eclipse-mosquitto:2\.0\.\d+", services()["mosquitto"]["image"])


def test_simulators_run_only_in_their_profile() -> None:
    assert services()["simulators"]["profiles"] == ["simulators"]
    simulate = parsed_command("simulators")
    assert (simulate.command, simulate.what, simulate.speed) == ("simulate", "sensors", 1.0)
    others = {name: service["profiles"] for name, service in services().items() if "profiles" in service}
    assert others == {"simulators": ["simulators"]}


def test_broker_and_database_addresses_name_services_of_the_stack() -> None:
    addresses = [parsed_command("simulators").broker]
    for name in our_services():
        env = environment(services()[name])
        addresses += [value for key, value in env.items() if key in BROKER_SETTINGS]
        if "SC_DATABASE_URL" in env:
            conninfo = dict(pair.split("=", 1) for pair in env["SC_DATABASE_URL"].split())
            assert conninfo["host"] in services(), f"{name}: database host {conninfo['host']!r}"
    assert len(addresses) == 1 + 1 + 2 * len(edge_services()), "a service relies on a default broker address"
    for address in addresses:
        assert urlsplit(address).hostname in services(), f"broker address {address!r} names no service"


def test_server_and_edge_agents_run_in_production() -> None:
    for name in ["server", *edge_services()]:
        assert environment(services()[name])["SC_ENVIRONMENT"] == "production", name


def test_the_database_password_must_be_given_and_is_written_nowhere() -> None:
    required = re.compile(r"\$\{SC_DB_PASSWORD:\?[^}]+\}")
    assert required.fullmatch(environment(services()["timescaledb"])["POSTGRES_PASSWORD"])
    for name in our_services():
        env = environment(services()[name])
        if "SC_DATABASE_URL" in env:
            assert "password" not in env["SC_DATABASE_URL"]
            assert required.fullmatch(env["PGPASSWORD"]), name


def schema_check_command() -> list[str] | None:
    """A command that validates the compose file against the compose schema, or None where none is installed."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            # `config` interpolates variables and checks the result; the profile brings in every service.
            return [docker, "compose", "-f", str(COMPOSE_FILE), "--profile", "simulators", "config", "--quiet"]
    checker = shutil.which("check-jsonschema")
    if checker is not None:
        return [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)]
    return None


def test_the_compose_file_passes_the_compose_schema() -> None:
    command = schema_check_command()
    # check-jsonschema is a dev dependency (uv.lock), so a checker is always there where the tests run.
    assert command is not None, "neither the docker compose plugin nor check-jsonschema is installed"
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "SC_DB_PASSWORD": "schema-check-only"},
        capture_output=True,
        text=True,
        timeout=SCHEMA_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def duplicate_keys(node: yaml.Node, visited: set[int]) -> list[str]:
    """Keys written twice in one mapping anywhere under `node` (merge keys `<<` aside)."""
    if id(node) in visited:  # an anchor reached again through an alias
        return []
    visited.add(id(node))
    found: list[str] = []
    if isinstance(node, yaml.MappingNode):
        keys = [key.value for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"]
        found += [key for key, count in collections.Counter(keys).items() if count > 1]
        for key, value in node.value:
            found += duplicate_keys(key, visited) + duplicate_keys(value, visited)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found += duplicate_keys(item, visited)
    return found


def test_no_key_is_written_twice() -> None:
    # PyYAML keeps the last of two equal keys silently (a second `edge-complex:` would hide the first);
    # compose refuses such a file. So the keys are counted on the document as written.
    document = yaml.compose(COMPOSE_FILE.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    assert document is not None
    assert duplicate_keys(document, set()) == []
