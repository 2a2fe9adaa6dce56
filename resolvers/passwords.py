"""Password hashing: Argon2id with OWASP's minimum (m=19 MiB, t=2, p=1).

Hashing runs in a worker thread (argon2-cffi releases the GIL), so a burst of sign-ins does not
stall the event loop.

References
----------
OWASP Password Storage Cheat Sheet, "Argon2id": m=19456 (19 MiB), t=2, p=1.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the account does not exist, so a wrong handle costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password, only spends time")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError, UnicodeEncodeError):
            return False  # UnicodeEncodeError: an unpaired surrogate, no password has one

    return await asyncio.to_thread(verify)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
