"""Signed, expiring media URLs:
``/media/<key>?m=<asset>&u=<artist>[&w=<artwork>]&t=<r|a>&exp=<unix>&sig=<mac>``.

Every URL the API hands out for a stored image names the object, the media asset it belongs to,
the artist and artwork it belongs to (the surrogate keys a cache purges it by), the training
policy in force when the URL was made (``t=r``: rights reserved, "do not train"; ``t=a``:
training allowed) and an expiry; an HMAC-SHA256 over all of them, under a key derived from the
platform secret, makes them unforgeable. A URL that is missing any part, has a part it should
not, was altered, or has expired is refused with 403, so a scraper cannot enumerate keys or reuse
old URLs: fresh ones only come from the (rate-limited) API.

Expiries are rounded up to a step of ``granularity`` seconds, so every viewer who asks for an
image within that window gets the same URL, and what a URL serves (bytes and headers) is fixed by
what it signs: a shared cache may keep the answer until the URL expires. Each image's steps are
shifted by a phase drawn from its asset id, so the images of a page do not all change URL at the
same second: a cache's misses at a window's turn are spread over the whole window instead of
arriving together. A policy change makes a different URL (``t`` changes) from the next response
on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from resolvers.surrogates import ImageRef
from server.secrets import derive
from storage.models import TrainingPolicy

# 128 bits of HMAC-SHA256: forging one still takes 2**128 tries; the URL stays short.
SIGNATURE_BYTES = 16
SIGNATURE_LENGTH = 22  # base64url of 16 bytes, unpadded
MAX_ID = (1 << 63) - 1
URLS_KEPT = 50_000  # signed URLs a signer keeps for reuse (about 26 MB, with their keys)
# The training policy as the URL spells it (one letter keeps URLs short).
POLICY_LETTER = {TrainingPolicy.DISALLOWED: "r", TrainingPolicy.ALLOWED: "a"}
LETTER_POLICY = {letter: policy for policy, letter in POLICY_LETTER.items()}
PARAMETERS = frozenset({"m", "u", "w", "t", "exp", "sig"})


class SignatureError(ValueError):
    """A media URL that may not be served; the message says why (it is sent to the client)."""


def media_signing_key(secret: bytes) -> bytes:
    return derive(secret, "media-url/v2")


@dataclass(frozen=True, slots=True)
class SignedMedia:
    """What a valid media URL says: the image (with its policy) and when the URL expires."""

    image: ImageRef
    expires: int


@dataclass(frozen=True, slots=True)
class MediaSigner:
    key: bytes
    ttl_seconds: int = 3600
    granularity: int = 300
    clock: Callable[[], float] = field(default=time.time)
    # The URLs made in the current windows, by (key, image, expiry): one image has one URL per
    # window whoever asks, so a page of images the process showed before signs nothing again.
    # Cleared whole when full (a window's URLs are made again at most once).
    _made: dict[tuple[str, ImageRef, int], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def expiry(self, asset: int = 0) -> int:
        """When a URL of ``asset`` made now expires: at least ``ttl_seconds`` from now, rounded
        up to the next of the asset's steps (multiples of the step, shifted by its phase)."""
        deadline = int(self.clock()) + self.ttl_seconds
        step = max(1, min(self.granularity, self.ttl_seconds))
        phase = self.phase(asset, step)
        return -(-(deadline - phase) // step) * step + phase

    @staticmethod
    def phase(asset: int, step: int) -> int:
        """The asset's shift of its expiry steps, in [0, step): spread evenly over ids (Knuth's
        multiplicative hash), the same on every process."""
        return ((asset * 2654435761) & 0xFFFFFFFF) % step

    def signature(self, key: str, image: ImageRef, expires: int) -> str:
        artwork = "" if image.artwork is None else str(image.artwork)
        letter = POLICY_LETTER[image.policy]
        message = f"{key}\n{image.asset}\n{image.artist}\n{artwork}\n{letter}\n{expires}"
        mac = hmac.new(self.key, message.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def url(self, key: str, image: ImageRef) -> str:
        """The path and query of the URL of ``key`` (``MediaUrls`` makes it absolute)."""
        expires = self.expiry(image.asset)
        made = self._made.get((key, image, expires))
        if made is not None:
            return made
        sig = self.signature(key, image, expires)
        artwork = "" if image.artwork is None else f"&w={image.artwork}"
        letter = POLICY_LETTER[image.policy]
        made = (
            f"/media/{quote(key)}?m={image.asset}&u={image.artist}{artwork}&t={letter}"
            f"&exp={expires}&sig={sig}"
        )
        if len(self._made) >= URLS_KEPT:
            self._made.clear()
        self._made[(key, image, expires)] = made
        return made

    def verify(self, key: str, query: dict[str, str]) -> SignedMedia:
        """What a URL signed for ``key`` says; ``SignatureError`` if it may not be served."""
        raw_expires, sig, letter = query.get("exp"), query.get("sig"), query.get("t")
        if not query.get("m") or not query.get("u") or not raw_expires or not sig or not letter:
            raise SignatureError("media URLs must be signed; ask the API for a fresh one")
        if not PARAMETERS.issuperset(query):
            raise SignatureError("the media URL has parameters it was not signed with")
        policy = LETTER_POLICY.get(letter)
        asset, artist = _id(query["m"]), _id(query["u"])
        artwork = _id(query["w"]) if "w" in query else None
        expires = _id(raw_expires) if len(raw_expires) <= 12 else None
        if policy is None or asset is None or artist is None or ("w" in query and not artwork):
            raise SignatureError("the media URL is malformed")
        if expires is None:
            raise SignatureError("the media URL is malformed")
        image = ImageRef(asset=asset, artist=artist, artwork=artwork, policy=policy)
        expected = self.signature(key, image, expires)
        if not hmac.compare_digest(expected.encode(), sig.encode("ascii", "replace")):
            raise SignatureError("the media URL's signature does not match")
        if expires <= self.clock():
            raise SignatureError("the media URL has expired; ask the API for a fresh one")
        return SignedMedia(image, expires)


def _id(raw: str) -> int | None:
    """A row id as the signer spells it (decimal, no sign, no leading zero), else None: one id,
    one spelling, so one image has one URL (and one cache entry) per window."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or raw.startswith("0"):
        return None
    value = int(raw)
    return value if value <= MAX_ID else None
