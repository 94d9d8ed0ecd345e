"""The production stack's ``.env``: every secret docker-compose.yml interpolates, in one file compose reads itself.

- ``SC_DB_PASSWORD``, ``SC_GRAFANA_ADMIN_PASSWORD``, ``SC_GRAFANA_DB_PASSWORD``: generated when missing, then
  never changed (the database volume and Grafana's own database are initialised with them on first start);
- ``SC_MQTT_<USER>_PASSWORD`` for each program's broker user (``server``, ``healthcheck``, ``simulators``,
  ``edge-<site>``): copied from the broker's credentials on every run, which they must match.

Any other line (comments, settings an operator added) is kept as it is. Values are written unquoted: everything
generated here is URL-safe base64, which compose's .env syntax takes literally.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from server.deploy import DeployError
from server.deploy.broker_acl import BrokerUser
from server.deploy.private_files import write_private_file

DB_PASSWORD = "SC_DB_PASSWORD"
GRAFANA_ADMIN_PASSWORD = "SC_GRAFANA_ADMIN_PASSWORD"
GRAFANA_DB_PASSWORD = "SC_GRAFANA_DB_PASSWORD"
GENERATED_ONCE = (DB_PASSWORD, GRAFANA_ADMIN_PASSWORD, GRAFANA_DB_PASSWORD)
PROGRAM_ROLES = frozenset({"server", "healthcheck", "simulators", "edge"})  # devices get theirs at installation

_ASSIGNMENT = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")
HEADER = """\
# Secrets of the Smart Complex production stack: docker-compose.yml reads this file (compose's .env). Written by
# `smartcomplex deploy init`. SECRET: mode 0600, never commit it (.gitignore and .dockerignore leave it out).
# The database and Grafana passwords initialise their volumes on the first start: changing them here later does
# not change them there. The SC_MQTT_* lines are copied from the broker's credentials.env on every run.
"""


def mqtt_password_variable(username: str) -> str:
    """The .env variable holding a broker user's password: ``edge-complex`` -> ``SC_MQTT_EDGE_COMPLEX_PASSWORD``."""
    return f"SC_MQTT_{username.upper().replace('-', '_')}_PASSWORD"


def program_passwords(users: Iterable[BrokerUser], passwords: Mapping[str, str]) -> dict[str, str]:
    """{.env variable: password} of the users compose's programs log in as; DeployError if two share a variable."""
    found: dict[str, str] = {}
    owners: dict[str, str] = {}
    for user in users:
        if user.role not in PROGRAM_ROLES:
            continue
        variable = mqtt_password_variable(user.name)
        if variable in owners:
            raise DeployError(f"broker users {owners[variable]} and {user.name} would share {variable}: rename one")
        owners[variable] = user.name
        found[variable] = passwords[user.name]
    return found


@dataclass(frozen=True, slots=True)
class EnvUpdate:
    """Variable names only: what was added, what changed, what was kept as it was."""

    added: tuple[str, ...]
    replaced: tuple[str, ...]
    kept: tuple[str, ...]


def read_env_values(text: str) -> dict[str, str]:
    """{variable: value} of a .env text, one pair of quotes around a value removed."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _ASSIGNMENT.fullmatch(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[match.group(1)] = value
    return values


def update_env_file(path: Path, *, mqtt: Mapping[str, str], make_secret: Callable[[], str]) -> EnvUpdate:
    """Write ``path``: the MQTT variables set to ``mqtt``, the once-generated secrets added if missing, every
    other line kept."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = HEADER
    except OSError as exc:
        raise DeployError(f"cannot read {path}: {exc.strerror}") from exc
    existing = read_env_values(text)
    lines = text.splitlines()
    replaced: list[str] = []
    for index, line in enumerate(lines):
        match = _ASSIGNMENT.fullmatch(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        name = match.group(1)
        if name in mqtt and existing.get(name) != mqtt[name]:
            lines[index] = f"{name}={mqtt[name]}"
            if name not in replaced:
                replaced.append(name)
    wanted = {name: None for name in GENERATED_ONCE} | dict(mqtt)
    added = [name for name in wanted if name not in existing]
    lines += [f"{name}={mqtt[name] if name in mqtt else make_secret()}" for name in added]
    write_private_file(path, "\n".join(lines) + "\n")
    kept = tuple(name for name in wanted if name not in added and name not in replaced)
    return EnvUpdate(added=tuple(added), replaced=tuple(replaced), kept=kept)
