"""Password hashing with argon2id: argon2-cffi's defaults, which follow RFC 9106's low-memory
profile (64 MiB, 3 passes, 4 lanes), unless `use("fast")` was asked for.

`ADSBIN_PASSWORD_HASHING=fast` (`create_app` calls `use`) is for test suites only, as Django's
docs advise a fast hasher for tests: it costs a fraction of a millisecond instead of a fifth of
a second, and offers no protection to a stolen table. Hashes record their parameters, so either
setting verifies the other's hashes; a sign-in rehashes a hash made with other parameters.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Hashing = Literal["rfc9106", "fast"]
_HASHERS: dict[str, PasswordHasher] = {
    "rfc9106": PasswordHasher(),
    "fast": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}
_hasher = _HASHERS["rfc9106"]


def use(hashing: Hashing) -> None:
    """Hash new passwords with this profile from now on (this process)."""
    global _hasher
    _hasher = _HASHERS[hashing]
    _dummy_hash.cache_clear()


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, salted."""
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("a password nobody has")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; takes as long for an unknown user as for a known one."""
    try:
        matches = _hasher.verify(password_hash or _dummy_hash(), password)
        return matches and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
