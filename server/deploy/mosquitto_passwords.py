"""Mosquitto 2.0 password files: ``<username>:$7$<iterations>$<base64 salt>$<base64 hash>``, one user a line.

``$7$`` is what ``mosquitto_passwd`` writes by default since 2.0 (``-H sha512-pbkdf2``, mosquitto_passwd(1)):
PBKDF2-HMAC-SHA512 over the UTF-8 password with a 12-byte random salt, all 64 bytes of output kept, both in
standard base64 with padding. Checked against Debian's mosquitto_passwd and broker 2.0.11 by
tests/integration/test_broker_auth.py. The broker reads the iteration count from each line.

Our passwords are ``secrets.token_urlsafe(32)``: 256 random bits, which no amount of guessing recovers, so the
work factor only has to match what the broker pays on every CONNECT. We keep mosquitto_passwd's default of 101.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable

from server.deploy import DeployError

PBKDF2_PREFIX = "$7$"
ITERATIONS = 101  # mosquitto_passwd 2.0's default (PW_DEFAULT_ITERATIONS)
SALT_BYTES = 12  # mosquitto's SALT_LEN
HASH_BYTES = 64  # SHA-512's digest size, which mosquitto stores in full


def hash_password(
    password: str, *, iterations: int = ITERATIONS, salt_source: Callable[[int], bytes] = os.urandom
) -> str:
    """The ``$7$`` line body (everything after ``username:``) for ``password``."""
    if iterations < 1:
        raise ValueError(f"iterations {iterations} must be at least 1")
    salt = salt_source(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, HASH_BYTES)
    return f"{PBKDF2_PREFIX}{iterations}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, encoded: str) -> bool:
    """True when ``encoded`` (a ``$7$`` hash) was made from ``password``; False for any other hash or format."""
    if not encoded.startswith(PBKDF2_PREFIX):
        return False
    parts = encoded[len(PBKDF2_PREFIX) :].split("$")
    if len(parts) != 3 or not parts[0].isdigit() or int(parts[0]) < 1:
        return False
    try:
        salt = base64.b64decode(parts[1], validate=True)
        expected = base64.b64decode(parts[2], validate=True)
    except binascii.Error:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(parts[0]), len(expected) or 1)
    return hmac.compare_digest(digest, expected)


def parse_password_file(text: str, *, source: str) -> dict[str, str]:
    """{username: hash} of a password file; DeployError naming the line for one that is not ``user:hash``."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        username, separator, encoded = line.partition(":")
        if not separator or not username or not encoded:
            raise DeployError(f"{source}:{number}: not 'username:hash'")
        entries[username] = encoded
    return entries


def render_password_file(hashes: dict[str, str]) -> str:
    """The file Mosquitto reads: one ``username:hash`` line per user, in the given order (no comments: the
    broker reads every line as a user)."""
    for username in hashes:
        if not username or ":" in username or any(character.isspace() for character in username):
            raise ValueError(f"username {username!r} cannot be written to a Mosquitto password file")
    return "".join(f"{username}:{encoded}\n" for username, encoded in hashes.items())


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
