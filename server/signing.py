"""Signed, expiring media URLs: ``/media/<key>?m=<asset>&exp=<unix>&sig=<mac>``.

Every URL the API hands out for a stored image names the object, the media asset it belongs to
(whose artwork or artist decides the "do not train" signals of the response) and an expiry; an
HMAC-SHA256 over the three, under a key derived from the platform secret, makes them unforgeable.
A URL that is missing any part, was altered, or has expired is refused with 403, so a scraper
cannot enumerate keys or reuse old URLs: fresh ones only come from the (rate-limited) API.

Expiries are rounded up to a multiple of ``granularity`` seconds, so that the same image asked for
twice within that window gets the same URL and a browser's cache keeps working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from server.secrets import derive

# 128 bits of HMAC-SHA256: forging one still takes 2**128 tries; the URL stays short.
SIGNATURE_BYTES = 16
SIGNATURE_LENGTH = 22  # base64url of 16 bytes, unpadded
MAX_ASSET_ID = (1 << 63) - 1


class SignatureError(ValueError):
    """A media URL that may not be served; the message says why (it is sent to the client)."""


def media_signing_key(secret: bytes) -> bytes:
    return derive(secret, "media-url/v1")


@dataclass(frozen=True, slots=True)
class MediaSigner:
    key: bytes
    ttl_seconds: int = 3600
    granularity: int = 300
    clock: Callable[[], float] = field(default=time.time)

    def expiry(self) -> int:
        """When a URL made now expires: at least ``ttl_seconds`` from now, rounded up."""
        deadline = int(self.clock()) + self.ttl_seconds
        step = max(1, min(self.granularity, self.ttl_seconds))
        return -(-deadline // step) * step

    def signature(self, key: str, asset_id: int, expires: int) -> str:
        message = f"{key}\n{asset_id}\n{expires}".encode()
        mac = hmac.new(self.key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def url(self, key: str, asset_id: int) -> str:
        expires = self.expiry()
        sig = self.signature(key, asset_id, expires)
        return f"/media/{quote(key)}?m={asset_id}&exp={expires}&sig={sig}"

    def verify(self, key: str, query: dict[str, str]) -> tuple[int, int]:
        """``(asset id, expiry)`` of a URL signed for ``key``; ``SignatureError`` otherwise."""
        raw_asset, raw_expires, sig = query.get("m"), query.get("exp"), query.get("sig")
        if not raw_asset or not raw_expires or not sig:
            raise SignatureError("media URLs must be signed; ask the API for a fresh one")
        if not (raw_asset.isascii() and raw_asset.isdigit() and raw_expires.isascii()):
            raise SignatureError("the media URL is malformed")
        if not raw_expires.isdigit() or len(raw_asset) > 19 or len(raw_expires) > 12:
            raise SignatureError("the media URL is malformed")
        asset_id, expires = int(raw_asset), int(raw_expires)
        if asset_id > MAX_ASSET_ID:
            raise SignatureError("the media URL is malformed")
        expected = self.signature(key, asset_id, expires)
        if not hmac.compare_digest(expected.encode(), sig.encode("ascii", "replace")):
            raise SignatureError("the media URL's signature does not match")
        if expires <= self.clock():
            raise SignatureError("the media URL has expired; ask the API for a fresh one")
        return asset_id, expires
