"""Field validation shared by the domains. Each check returns a ``FieldError`` or None, so a
mutation can collect every problem of its input at once."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from resolvers.errors import ErrorCode, FieldError, InputError

HANDLE_MAX = 30  # users.handle_key
EMAIL_MAX = 254  # users.email_key
HANDLE_RE = re.compile(rf"^[A-Za-z0-9_]{{3,{HANDLE_MAX}}}$")
# Names that would be confusing as profiles or collide with routes and system accounts.
RESERVED_HANDLES = frozenset(
    {
        "admin",
        "administrator",
        "api",
        "graphql",
        "media",
        "static",
        "support",
        "help",
        "root",
        "system",
        "moderator",
        "mod",
        "staff",
        "gesso",
        "about",
        "settings",
        "login",
        "logout",
        "signup",
        "explore",
        "discover",
        "feed",
        "home",
        "null",
        "undefined",
        "healthz",
        "readyz",
        "metrics",
        "robots",
        "well_known",
    }
)
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
TAG_RE = re.compile(r"^[^\W_][\w-]{0,49}$")
HASHTAG_RE = re.compile(r"(?<![\w#])#([^\W_][\w-]{0,49})")
# An @handle in a text: not inside a word or an email address, and as long as a handle may be.
MENTION_RE = re.compile(rf"(?<![\w@])@([A-Za-z0-9_]{{3,{HANDLE_MAX}}})(?![\w@])")
# Mentions in one text that notify (resolvers.inbox) and link (resolvers.mentions); more are left
# as text.
MENTIONS_MAX = 10
# What no column can hold: NUL (PostgreSQL text) and lone surrogates (not encodable as UTF-8).
UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> bool:
    return UNSTORABLE_RE.search(value) is None


def clean_text(value: str) -> str:
    """NFC-normalise and trim, so limits count what a reader sees."""
    return unicodedata.normalize("NFC", value).strip()


def check_length(
    field: str, value: str, *, low: int = 0, high: int, what: str | None = None
) -> FieldError | None:
    name = what or field
    if not storable(value):
        return FieldError(
            field, f"{name} contains a NUL or an unpaired surrogate character", ErrorCode.INVALID
        )
    if len(value) < low:
        if low == 1:
            return FieldError(field, f"{name} is required", ErrorCode.REQUIRED)
        return FieldError(field, f"{name} must be at least {low} characters", ErrorCode.TOO_SHORT)
    if len(value) > high:
        return FieldError(
            field,
            f"{name} must be at most {high} characters (got {len(value)})",
            ErrorCode.TOO_LONG,
        )
    return None


def check_handle(field: str, handle: str) -> FieldError | None:
    if not HANDLE_RE.fullmatch(handle):
        return FieldError(
            field,
            "a handle is 3 to 30 characters: letters, digits and underscores",
            ErrorCode.INVALID_HANDLE,
        )
    if handle.lower() in RESERVED_HANDLES:
        return FieldError(field, f"the handle {handle!r} is reserved", ErrorCode.INVALID_HANDLE)
    return None


def check_email(field: str, email: str) -> FieldError | None:
    if len(email) > EMAIL_MAX or not EMAIL_RE.fullmatch(email) or not storable(email):
        return FieldError(field, "enter a valid email address", ErrorCode.INVALID_EMAIL)
    return None


def check_links(field: str, links: list[str]) -> FieldError | None:
    if len(links) > 5:
        return FieldError(field, "at most 5 links", ErrorCode.TOO_MANY)
    for link in links:
        try:
            parts = urlsplit(link)
            usable = parts.scheme in {"http", "https"} and bool(parts.netloc)
        except ValueError:  # e.g. "http://[oops": an unclosed IPv6 host
            usable = False
        if not usable or len(link) > 200 or not storable(link):
            return FieldError(
                field, f"not an http(s) link of at most 200 characters: {link!r}", ErrorCode.INVALID
            )
    return None


def normalize_tags(field: str, tags: list[str]) -> tuple[list[str], FieldError | None]:
    """Lower-case, strip a leading '#', de-duplicate in order; at most 30 tags."""
    out: list[str] = []
    for raw in tags:
        tag = clean_text(raw).lstrip("#").lower()
        if not TAG_RE.fullmatch(tag):
            return out, FieldError(
                field,
                f"a tag is 1 to 50 letters, digits, '-' or '_', got {raw!r}",
                ErrorCode.INVALID,
            )
        if tag not in out:
            out.append(tag)
    if len(out) > 30:
        return out, FieldError(field, "at most 30 tags", ErrorCode.TOO_MANY)
    return out, None


def hashtags(text: str) -> list[str]:
    seen: list[str] = []
    for match in HASHTAG_RE.finditer(text):
        tag = match.group(1).lower()
        if tag not in seen:
            seen.append(tag)
    return seen


def mentions(text: str) -> list[str]:
    """The handles ``@handle`` names in ``text``, once each (any letter case), in order."""
    seen: dict[str, str] = {}
    for match in MENTION_RE.finditer(text):
        seen.setdefault(match.group(1).lower(), match.group(1))
    return list(seen.values())


def raise_if_any(errors: list[FieldError | None]) -> None:
    found = [e for e in errors if e is not None]
    if found:
        raise InputError(found)
