"""Password hashing (argon2id) and the password rules people are held to."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from beacon.core.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 200
_HASHER = PasswordHasher()
# Verified against when the email is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: burn the same time, then False)."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str, *, field: str = "password") -> None:
    """Refuse a password that is too short or too long, naming the rule."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            f"Choose a password of at least {MIN_LENGTH} characters", details={"field": field}
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(
            f"Choose a password of at most {MAX_LENGTH} characters", details={"field": field}
        )


def generate_password() -> str:
    """A random password people can copy (about 120 bits)."""
    return secrets.token_urlsafe(15)
