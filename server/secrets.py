"""The platform secret and the keys derived from it.

One secret (``GESSO_SECRET_KEY``) feeds every keyed mechanism through HMAC-SHA256 with a label, so
the watermark key, the per-artist cloak keys and (later) URL signing keys are independent of one
another and none of them is the secret itself. In development a random secret is created in the
data directory on first use; production refuses to start without one, because changing it makes
every published watermark unreadable.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from server.settings import Settings, SettingsError

MIN_SECRET_LENGTH = 32
SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret


def platform_secret(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        if len(settings.secret_key) < MIN_SECRET_LENGTH:
            raise SettingsError(f"GESSO_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
        return settings.secret_key.encode()
    if settings.is_production:
        raise SettingsError(
            "GESSO_SECRET_KEY is required in production (e.g. `python -c "
            '"import secrets; print(secrets.token_urlsafe(48))"`); keep it: watermarks are '
            "keyed by it"
        )
    return _development_secret(settings.data_dir / SECRET_FILE)


def _development_secret(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def derive(secret: bytes, label: str) -> bytes:
    """A 32-byte key for one purpose, derived from the platform secret."""
    return hmac.new(secret, label.encode(), hashlib.sha256).digest()


def watermark_key(secret: bytes) -> bytes:
    return derive(secret, "watermark/v1")


def cloak_key(secret: bytes, artist_id: int) -> bytes:
    return derive(secret, f"cloak/v1/{artist_id}")
