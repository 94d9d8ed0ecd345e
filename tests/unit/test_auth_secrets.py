"""Password hashes and bearer tokens (server/auth/secrets.py): scrypt from the standard library, SHA-256 digests."""

from __future__ import annotations

import pytest

from server.auth.secrets import (
    MIN_PASSWORD_LENGTH,
    WeakPassword,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)


def test_a_hashed_password_verifies_and_a_wrong_one_does_not() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$")
    assert "correct horse battery" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterz", stored)
    assert not verify_password("", stored)


def test_the_same_password_hashes_differently_each_time_by_its_salt() -> None:
    first, second = hash_password("same password"), hash_password("same password")
    assert first != second
    assert verify_password("same password", first)
    assert verify_password("same password", second)


def test_a_short_password_is_refused() -> None:
    with pytest.raises(WeakPassword, match=str(MIN_PASSWORD_LENGTH)):
        hash_password("x" * (MIN_PASSWORD_LENGTH - 1))


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        "not a hash",
        "scrypt$16384$8$1$c2FsdA",  # a field missing
        "bcrypt$16384$8$1$c2FsdA$aGFzaA",  # another scheme
        "scrypt$many$8$1$c2FsdA$aGFzaA",  # n not a number
        "scrypt$15$8$1$c2FsdA$aGFzaA",  # n not a power of two: scrypt refuses it
        "scrypt$16384$8$1$!!!!$aGFzaA",  # salt not base64
    ],
)
def test_a_malformed_stored_hash_verifies_nothing(stored: str | None) -> None:
    assert not verify_password("any password at all", stored)


def test_tokens_are_fresh_and_only_their_digest_is_kept() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    token = tokens.pop()
    assert len(token) >= 43  # 256 bits, URL-safe base64
    assert token_digest(token) == token_digest(token)
    assert len(token_digest(token)) == 32
    assert token_digest(token) != token_digest(token + "x")


def test_a_stored_hash_with_a_truncated_digest_verifies_nothing() -> None:
    # One base64 character cannot be decoded at all (binascii.Error): the check must say "no", not raise.
    assert not verify_password("any password at all", "scrypt$16384$8$1$c2FsdA$a")
