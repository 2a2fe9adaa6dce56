from __future__ import annotations

import pytest

from server.signing import MediaSigner, SignatureError

KEY = b"k" * 32
NOW = 1_800_000_000.0


def _query(url: str) -> tuple[str, dict[str, str]]:
    path, _, query = url.partition("?")
    return path.removeprefix("/media/"), dict(part.split("=", 1) for part in query.split("&"))


def test_a_url_verifies_until_it_expires() -> None:
    # given a URL made now with a one-hour lifetime
    signer = MediaSigner(KEY, ttl_seconds=3600, granularity=300, clock=lambda: NOW)
    key, query = _query(signer.url("ab/cd/x.webp", 42))
    assert key == "ab/cd/x.webp"
    assert sorted(query) == ["exp", "m", "sig"]
    assert len(query["sig"]) == 22
    # then it verifies now, naming its asset and expiry (rounded up to the 300 s step) ...
    assert signer.verify(key, query) == (42, 1_800_003_600)
    # ... and not a second after its expiry
    later = MediaSigner(KEY, clock=lambda: 1_800_003_600.0)
    with pytest.raises(SignatureError, match="expired"):
        later.verify(key, query)


def test_urls_made_within_one_step_are_the_same() -> None:
    first = MediaSigner(KEY, granularity=300, clock=lambda: NOW + 1)
    second = MediaSigner(KEY, granularity=300, clock=lambda: NOW + 299)
    assert first.url("a/b.jpg", 1) == second.url("a/b.jpg", 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sig": "A" * 22}, "does not match"),
        ({"m": "43"}, "does not match"),
        ({"exp": "1800007200"}, "does not match"),
        ({"sig": ""}, "must be signed"),
        ({"m": "-1"}, "malformed"),
        ({"m": "١٢"}, "malformed"),
        ({"exp": "9" * 13}, "malformed"),
        ({"m": "9" * 19}, "malformed"),
        ({"sig": "é" * 22}, "does not match"),
    ],
)
def test_any_change_is_refused(change: dict[str, str], message: str) -> None:
    signer = MediaSigner(KEY, clock=lambda: NOW)
    key, query = _query(signer.url("ab/cd/x.webp", 42))
    with pytest.raises(SignatureError, match=message):
        signer.verify(key, {**query, **change})


def test_a_url_for_one_key_does_not_open_another() -> None:
    signer = MediaSigner(KEY, clock=lambda: NOW)
    _, query = _query(signer.url("ab/cd/x.webp", 42))
    with pytest.raises(SignatureError, match="does not match"):
        signer.verify("ab/cd/y.webp", query)


def test_another_key_does_not_verify() -> None:
    signer = MediaSigner(KEY, clock=lambda: NOW)
    key, query = _query(signer.url("ab/cd/x.webp", 42))
    with pytest.raises(SignatureError, match="does not match"):
        MediaSigner(b"o" * 32, clock=lambda: NOW).verify(key, query)
