"""The production stack (docker-compose.yml and the Dockerfile) agrees with the command line and the site file.

Docker cannot run where the tests run, so nothing here builds or starts a container: the compose file is read
as YAML and every command, address and dependency in it is checked against the code it will run, and every
secret it needs against what `smartcomplex deploy init` writes into .env. The schema check runs `docker compose
config` where the compose plugin exists, else the Compose Specification schema that check-jsonschema (a dev
dependency) ships as `vendor.compose-spec`.
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

from devices.broker import parse_broker_url
from devices.site import load_belt
from server.cli import build_parser
from server.cli_deploy import DEFAULT_BROKER_DIR
from server.deploy.broker_acl import SERVER_USER, SIMULATORS_USER, broker_users, edge_user
from server.deploy.broker_auth import ACL_FILE, PASSWORD_FILE
from server.deploy.env_file import GENERATED_ONCE, mqtt_password_variable, program_passwords

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
OUR_IMAGE = "smartcomplex"
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
HEALTH_PROBES = {
    "timescaledb": "pg_isready",
    "mosquitto": "mosquitto_sub",
    "server": "/api/v1/health",
    "grafana": "/api/health",
}
SCHEMA_TIMEOUT_S = 60
BROKER_SETTINGS = {"SC_MQTT_URL", "SC_EDGE_SITE_BROKER_URL", "SC_EDGE_CENTRAL_BROKER_URL"}
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
# Compose's variable syntax: $$ (a literal $), ${NAME}, ${NAME:?error}, ${NAME-default} and the like, $NAME.
VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?P<operator>:?[-?+])?(?P<argument>[^}]*)\}|\$(?P<bare>[A-Za-z_]\w*)"
)
REQUIRED_VARIABLE = r"\$\{{{name}:\?[^}}]+\}}"


@functools.cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{COMPOSE_FILE} is not a YAML mapping"
    return document


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def variables_written_by_deploy_init() -> dict[str, str]:
    """Every variable `smartcomplex deploy init` puts in .env for the shipped site file, with a stand-in value."""
    users = broker_users(load_belt())
    names = [*GENERATED_ONCE, *program_passwords(users, {user.name: "x" for user in users})]
    return {name: f"stand-in-{name.lower().replace('_', '-')}" for name in names}


def interpolate(value: object, env: dict[str, str]) -> object:
    """``value`` with compose's variable substitution applied to every string in it, as `docker compose` does."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group("name") or match.group("bare")
        if name is None:
            return "$"
        if name in env:
            return env[name]
        assert "?" not in (match.group("operator") or ""), f"compose would refuse to start without {name}"
        return match.group("argument") if match.group("operator") else ""

    return VARIABLE.sub(substitute, value)


@functools.cache
def interpolated_services() -> dict[str, dict[str, Any]]:
    """The services as the programs will see them, with .env as `deploy init` writes it."""
    found = interpolate(services(), variables_written_by_deploy_init())
    assert isinstance(found, dict)
    return found


def strings_in(value: object) -> list[str]:
    """Every string value of a parsed YAML document (compose interpolates values, never keys or comments)."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [value] if isinstance(value, str) else []


def variable_uses() -> list[re.Match[str]]:
    """Every variable reference (``$$`` escapes aside) in the compose file's values."""
    uses = [match for text in strings_in(compose()) for match in VARIABLE.finditer(text)]
    return [match for match in uses if match.group(0) != "$$"]


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
    edges = [name for name in our_services() if services()[name]["command"][:1] == ["edge"]]
    return {name: parsed_command(name).site for name in edges}


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


def test_grafana_starts_once_its_read_only_role_has_its_password() -> None:
    reader = parsed_command("grafana-reader")
    assert (reader.command, reader.what) == ("db", "reader-password")
    assert dependencies(services()["grafana-reader"]) == {"migrate": "service_completed_successfully"}
    assert dependencies(services()["grafana"]) == {
        "timescaledb": "service_healthy",
        "migrate": "service_completed_successfully",
        "grafana-reader": "service_completed_successfully",
    }
    reader_env = environment(services()["grafana-reader"])
    assert reader_env["SC_DATABASE_URL"] == environment(services()["migrate"])["SC_DATABASE_URL"]
    assert re.fullmatch(REQUIRED_VARIABLE.format(name="SC_GRAFANA_DB_PASSWORD"), reader_env["SC_GRAFANA_DB_PASSWORD"])


@pytest.mark.parametrize(("name", "probe"), sorted(HEALTH_PROBES.items()))
def test_database_broker_and_server_have_healthchecks(name: str, probe: str) -> None:
    check = services()[name]["healthcheck"]
    assert not check.get("disable", False)
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert probe in " ".join(check["test"])


@pytest.mark.parametrize("name", sorted(edge_services()))
def test_each_edge_agent_is_checked_by_the_clis_edge_check_for_its_own_site(name: str) -> None:
    check = services()[name]["healthcheck"]
    assert check["test"][0] == "CMD"
    args = build_parser().parse_args(check["test"][2:])  # after "CMD", "smartcomplex"
    assert check["test"][1] == "smartcomplex"
    assert (args.command, args.what, args.site) == ("deploy", "check-edge", edge_services()[name])
    assert int(check["timeout"].removesuffix("s")) > args.timeout * 2  # connect, then wait for the status


def test_the_server_listens_where_its_port_and_healthcheck_point() -> None:
    server = services()["server"]
    args = parsed_command("server")
    assert args.host == "0.0.0.0"
    assert f"127.0.0.1:{args.port}/api/v1/health" in " ".join(server["healthcheck"]["test"])
    assert server["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]
    assert server["restart"] == "unless-stopped"


def mosquitto_options() -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            option, _, value = line.strip().partition(" ")
            options.setdefault(option, []).append(value.strip())
    return options


def test_only_the_broker_is_published_beyond_loopback_and_it_refuses_anonymous_clients() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            if name == "mosquitto":
                assert str(port) == "1883:1883", "devices and agents of the sites reach the broker on 1883"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    options = mosquitto_options()
    assert options["allow_anonymous"] == ["false"]
    assert len(options["password_file"]) == len(options["acl_file"]) == 1
    assert "per_listener_settings" not in options, "the password and ACL files must hold for every listener"


def test_the_broker_loads_the_generated_password_and_acl_files_as_its_own_user() -> None:
    mosquitto = services()["mosquitto"]
    mounted = {Path(target).name: (source, target) for target, source in mounts(mosquitto).items()}
    script = " ".join(mosquitto["command"])
    for name, option in ((PASSWORD_FILE, "password_file"), (ACL_FILE, "acl_file")):
        source, target = mounted[name]
        # Where `deploy init` writes them (git-ignored, so not in the repository).
        assert Path(source) == Path(".") / DEFAULT_BROKER_DIR / name
        assert f"{source}:{target}:ro" in mosquitto["volumes"]
        # The command copies each mounted file to where the configuration reads it, owned by the broker's user.
        (read_from,) = mosquitto_options()[option]
        assert target in script
        assert Path(read_from).parent.as_posix() in script
        assert Path(read_from).name == name
    assert script.endswith("exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf")
    assert "chown -R mosquitto:mosquitto" in script


def test_every_bind_mount_points_at_a_repository_path_or_a_generated_secret() -> None:
    for name, service in services().items():
        for target, source in mounts(service).items():
            if not source.startswith("./"):
                assert source in compose()["volumes"], f"{name}: {source} is neither a path nor a named volume"
            elif Path(source).parent == Path(".") / DEFAULT_BROKER_DIR:
                assert Path(source).name in {PASSWORD_FILE, ACL_FILE}, f"{name}: {source} is no generated file"
            else:
                assert (ROOT / source).exists(), f"{name} mounts {source} at {target}: no such path"


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
    # The dashboards are generated for Grafana 11.6 (dashboards/grafana/, the pinned foundation SDK).
    assert re.fullmatch(r"grafana/grafana-oss:11\.6\.\d+", services()["grafana"]["image"])


def test_simulators_run_only_in_their_profile() -> None:
    assert services()["simulators"]["profiles"] == ["simulators"]
    simulate = parsed_command("simulators")
    assert (simulate.command, simulate.what, simulate.speed) == ("simulate", "sensors", 1.0)
    others = {name: service["profiles"] for name, service in services().items() if "profiles" in service}
    assert others == {"simulators": ["simulators"]}


def broker_addresses() -> dict[str, list[str]]:
    """{service: every broker URL it is given}, interpolated as the program will read them."""
    found = {"simulators": [build_parser().parse_args(interpolated_services()["simulators"]["command"]).broker]}
    for name in our_services():
        env = environment(interpolated_services()[name])
        found.setdefault(name, []).extend(value for key, value in env.items() if key in BROKER_SETTINGS)
    return {name: urls for name, urls in found.items() if urls}


def test_broker_and_database_addresses_name_services_of_the_stack() -> None:
    addresses = [url for urls in broker_addresses().values() for url in urls]
    for name in our_services():
        env = environment(services()[name])
        if "SC_DATABASE_URL" in env:
            conninfo = dict(pair.split("=", 1) for pair in env["SC_DATABASE_URL"].split())
            assert conninfo["host"] in services(), f"{name}: database host {conninfo['host']!r}"
    assert len(addresses) == 1 + 1 + 2 * len(edge_services()), "a service relies on a default broker address"
    for address in addresses:
        assert urlsplit(address).hostname in services(), f"broker address {address!r} names no service"


def test_each_program_logs_in_to_the_broker_as_its_own_user_with_the_password_from_env() -> None:
    expected_user = {"server": SERVER_USER, "simulators": SIMULATORS_USER}
    expected_user |= {name: edge_user(site) for name, site in edge_services().items()}
    stand_ins = variables_written_by_deploy_init()
    for name, urls in broker_addresses().items():
        for url in urls:
            address = parse_broker_url(url)  # as the program parses it
            assert address.username == expected_user[name], f"{name} logs in as {address.username}"
            assert address.password == stand_ins[mqtt_password_variable(address.username)], name


def test_every_variable_is_required_and_written_by_deploy_init() -> None:
    # One command sequence brings the stack up: `deploy init` writes every variable this file needs, and a
    # missing one stops compose with the reason rather than starting a service with an empty password.
    uses = variable_uses()
    assert {match.group("name") or match.group("bare") for match in uses} == set(variables_written_by_deploy_init())
    for match in uses:
        assert match.group("operator") == ":?", f"{match.group(0)}: write ${{NAME:?what to do}}"


def test_no_secret_is_written_in_the_compose_file() -> None:
    for name, service in services().items():
        for key, value in environment(service).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}|\$\$\w+", value), f"{name}: {key} is written out"
    for name, urls in broker_addresses().items():
        for url in urls:
            assert parse_broker_url(url).password is not None, f"{name} connects without a password"
    raw_urls = [text for text in strings_in(compose()) if "mqtt://" in text]
    assert raw_urls
    for url in raw_urls:
        assert re.fullmatch(r"mqtt://[a-z0-9-]+:\$\{SC_MQTT_[A-Z0-9_]+_PASSWORD:\?[^}]+\}@mosquitto:1883", url), url
    # .env and deploy/secrets/ (where `deploy init` writes the broker's files) reach neither git nor an image.
    assert DEFAULT_BROKER_DIR.is_relative_to("deploy/secrets")
    for ignore_file in (".gitignore", ".dockerignore"):
        patterns = (ROOT / ignore_file).read_text(encoding="utf-8").splitlines()
        assert {".env", "deploy/secrets/"} <= set(patterns), f"{ignore_file} lets secrets in"


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
    # check-jsonschema is a dev dependency (uv.lock) that ships the Compose Specification's schema
    # (vendor.compose-spec), so a checker is always there where the tests run.
    assert command is not None, "neither the docker compose plugin nor check-jsonschema is installed"
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **variables_written_by_deploy_init()},
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
