"""The broker's credentials for a site file: Mosquitto's password file and ACL file, and the plain passwords.

``write_broker_auth(belt, directory)`` writes three files into ``directory`` (created 0700):

- ``passwd``           Mosquitto's password_file, a ``$7$`` hash per user (server.deploy.mosquitto_passwords);
- ``acl``              Mosquitto's acl_file (server.deploy.broker_acl);
- ``credentials.env``  ``username=password`` per user, the secret from which the other two are made: compose's
                       ``.env`` takes the programs' passwords from it (server.deploy.env_file) and an installer
                       gives each real device its own line.

All three are 0600 and belong to whoever runs the command; the broker's container copies ``passwd`` and ``acl``
to its own user when it starts (docker-compose.yml), so it never sees ``credentials.env``. Running it again keeps
every password in ``credentials.env``, adds users the site file gained and drops users it lost; a user whose
password is unchanged keeps its hash line, so a re-run with no change to the site file rewrites identical files.

Passwords are ``secrets.token_urlsafe(32)``: only RFC 3986 unreserved characters, so they go into a broker URL,
a compose file and a shell unescaped. A hand-written password outside ``[A-Za-z0-9_-]`` is refused.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from devices.site import Belt
from devices.topics import TOPIC_ROOT
from server.deploy import DeployError
from server.deploy.broker_acl import BrokerUser, broker_users, render_acl
from server.deploy.mosquitto_passwords import (
    hash_password,
    parse_password_file,
    password_matches,
    render_password_file,
)
from server.deploy.private_files import SECRET_DIR_MODE, write_private_file

PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
CREDENTIALS_FILE = "credentials.env"
PASSWORD_BYTES = 32  # token_urlsafe(32): 256 random bits, 43 characters
# Unreserved characters only (RFC 3986 section 2.3); at least 96 bits' worth of them.
USABLE_PASSWORD = re.compile(r"[A-Za-z0-9_-]{16,}")


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


@dataclass(frozen=True, slots=True)
class BrokerAuth:
    """What :func:`write_broker_auth` wrote: the users, their passwords, who was added and who dropped."""

    directory: Path
    users: tuple[BrokerUser, ...]
    passwords: Mapping[str, str]
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def password(self, username: str) -> str:
        return self.passwords[username]


def broker_url(username: str, password: str, *, host: str, port: int = 1883) -> str:
    """``mqtt://user:password@host:port`` with both percent-encoded, as devices.broker.parse_broker_url decodes."""
    return f"mqtt://{quote(username, safe='')}:{quote(password, safe='')}@{host}:{port}"


def read_credentials(path: Path) -> dict[str, str]:
    """{username: password} of a credentials file; {} when there is none; DeployError for an unusable line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise DeployError(f"cannot read {path}: {exc.strerror}") from exc
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        username, separator, password = stripped.partition("=")
        if not separator or not username:
            raise DeployError(f"{path}:{number}: not 'username=password'")
        if USABLE_PASSWORD.fullmatch(password) is None:
            raise DeployError(
                f"{path}:{number}: the password of {username} must be 16 or more of A-Z a-z 0-9 _ - "
                "(it goes into broker URLs unescaped); delete the line to have a new one generated"
            )
        found[username] = password
    return found


def render_credentials(users: list[BrokerUser], passwords: Mapping[str, str], *, source: str) -> str:
    lines = [
        f"# MQTT passwords of the Smart Complex broker's users, generated from {source} by",
        "# `smartcomplex deploy broker-auth`. SECRET: mode 0600, never commit it, give each device only its own line.",
        "# Running the command again keeps these passwords; delete a line to have that user's password replaced.",
        "",
    ]
    lines += [f"{user.name}={passwords[user.name]}" for user in users]
    return "\n".join(lines) + "\n"


def write_broker_auth(
    belt: Belt,
    directory: Path,
    *,
    root: str = TOPIC_ROOT,
    source: str = "the site file",
    make_password: Callable[[], str] = new_password,
    salt_source: Callable[[int], bytes] = os.urandom,
) -> BrokerAuth:
    """Write ``passwd``, ``acl`` and ``credentials.env`` for ``belt`` into ``directory`` (see the module doc)."""
    users = broker_users(belt, root=root)
    _prepare(directory)
    known = read_credentials(directory / CREDENTIALS_FILE)
    passwords = {user.name: known.get(user.name) or make_password() for user in users}
    old_hashes = _read_hashes(directory / PASSWORD_FILE)
    hashes = {
        name: old_hashes[name]
        if name in old_hashes and password_matches(password, old_hashes[name])
        else hash_password(password, salt_source=salt_source)
        for name, password in passwords.items()
    }
    # The plain passwords first: were the run to stop half way, the next one would still find them.
    write_private_file(directory / CREDENTIALS_FILE, render_credentials(users, passwords, source=source))
    write_private_file(directory / PASSWORD_FILE, render_password_file(hashes))
    write_private_file(directory / ACL_FILE, render_acl(users, source=source))
    return BrokerAuth(
        directory=directory,
        users=tuple(users),
        passwords=passwords,
        added=tuple(name for name in passwords if name not in known),
        removed=tuple(name for name in known if name not in passwords),
    )


def _prepare(directory: Path) -> None:
    try:
        directory.mkdir(mode=SECRET_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise DeployError(f"cannot create {directory}: {exc.strerror}") from exc
    for name in (PASSWORD_FILE, ACL_FILE, CREDENTIALS_FILE):
        if (directory / name).is_dir():
            # Docker creates a missing bind-mount source as an empty directory (compose started before this ran).
            raise DeployError(f"{directory / name} is a directory, not a file: remove it (rmdir) and run again")


def _read_hashes(path: Path) -> dict[str, str]:
    try:
        return parse_password_file(path.read_text(encoding="utf-8"), source=str(path))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise DeployError(f"cannot read {path}: {exc.strerror}") from exc
