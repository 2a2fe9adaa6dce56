from __future__ import annotations

from pathlib import Path

import pytest

from resolvers.surrogates import ImageRef
from server.media import media_urls
from server.settings import read_settings
from server.signing import MediaSigner, SignatureError, SignedMedia
from storage.models import TrainingPolicy

KEY = b"k" * 32
NOW = 1_800_000_000.0
IMAGE = ImageRef(asset=42, artist=7, artwork=9, policy=TrainingPolicy.DISALLOWED)


def _query(url: str) -> tuple[str, dict[str, str]]:
    path, _, query = url.partition("?")
    return path.removeprefix("/media/"), dict(part.split("=", 1) for part in query.split("&"))


def test_a_url_verifies_until_it_expires() -> None:
    # given a URL made now with a one-hour lifetime
    signer = MediaSigner(KEY, ttl_seconds=3600, granularity=300, clock=lambda: NOW)
    key, query = _query(signer.url("ab/cd/x.webp", IMAGE))
    assert key == "ab/cd/x.webp"
    assert sorted(query) == ["exp", "m", "sig", "t", "u", "w"]
    assert len(query["sig"]) == 22
    # then it verifies now, naming its asset and expiry (rounded up to the asset's 300 s step,
    # shifted by its phase: 62 s for asset 42) ...
    assert MediaSigner.phase(IMAGE.asset, 300) == 62
    assert signer.verify(key, query) == SignedMedia(IMAGE, 1_800_003_662)
    # ... and not a second after its expiry
    later = MediaSigner(KEY, clock=lambda: 1_800_003_662.0)
    with pytest.raises(SignatureError, match="expired"):
        later.verify(key, query)


def test_urls_made_within_one_step_are_the_same() -> None:
    phase = MediaSigner.phase(IMAGE.asset, 300)
    first = MediaSigner(KEY, granularity=300, clock=lambda: NOW + phase + 1)
    second = MediaSigner(KEY, granularity=300, clock=lambda: NOW + phase + 299)
    third = MediaSigner(KEY, granularity=300, clock=lambda: NOW + phase + 301)
    assert first.url("a/b.jpg", IMAGE) == second.url("a/b.jpg", IMAGE)
    assert first.url("a/b.jpg", IMAGE) != third.url("a/b.jpg", IMAGE)


def test_a_signer_that_reuses_its_urls_still_turns_them_with_the_window_and_policy() -> None:
    # given one signer whose clock moves, asked for the same image again and again
    phase = MediaSigner.phase(IMAGE.asset, 300)
    now = [NOW + phase + 1]
    signer = MediaSigner(KEY, granularity=300, clock=lambda: now[0])
    first = signer.url("a/b.jpg", IMAGE)
    now[0] += 298
    assert signer.url("a/b.jpg", IMAGE) == first  # same window: the same URL
    # then the next window, another policy or another key each make a URL of their own that
    # verifies as itself
    now[0] += 2
    later = signer.url("a/b.jpg", IMAGE)
    allowed = ImageRef(IMAGE.asset, IMAGE.artist, IMAGE.artwork, TrainingPolicy.ALLOWED)
    other_policy = signer.url("a/b.jpg", allowed)
    other_key = signer.url("a/c.jpg", IMAGE)
    assert len({first, later, other_policy, other_key}) == 4
    for url, image in ((later, IMAGE), (other_policy, allowed), (other_key, IMAGE)):
        key, query = _query(url)
        assert signer.verify(key, query).image == image


def test_the_images_of_a_page_change_url_at_different_times() -> None:
    """Each asset's window turns at its own phase, so a cache does not go cold for every image
    at one second; every URL still lives at least the TTL and less than TTL + one step."""
    signer = MediaSigner(KEY, ttl_seconds=3600, granularity=300, clock=lambda: NOW)
    expiries = [signer.expiry(asset) for asset in range(1, 301)]
    assert all(NOW + 3600 <= e < NOW + 3600 + 300 for e in expiries)
    # 300 consecutive ids fall in many different seconds of the window, none taking over 2%
    seconds = [int(e - NOW - 3600) for e in expiries]
    assert len(set(seconds)) > 150
    assert max(seconds.count(s) for s in set(seconds)) <= 6
    # and each one is the same for every process (a pure function of the id)
    assert [MediaSigner.phase(a, 300) for a in (1, 2, 3)] == [61, 226, 287]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sig": "A" * 22}, "does not match"),
        ({"m": "43"}, "does not match"),
        ({"exp": "1800007200"}, "does not match"),
        ({"u": "8"}, "does not match"),
        ({"w": "10"}, "does not match"),
        ({"t": "a"}, "does not match"),
        ({"t": "x"}, "malformed"),
        ({"t": ""}, "must be signed"),
        ({"m": "042"}, "malformed"),
        ({"exp": "01800003600"}, "malformed"),
        ({"w": "x"}, "malformed"),
        ({"cb": "1"}, "not signed with"),
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
    key, query = _query(signer.url("ab/cd/x.webp", IMAGE))
    with pytest.raises(SignatureError, match=message):
        signer.verify(key, {**query, **change})


def test_a_url_for_one_key_does_not_open_another() -> None:
    signer = MediaSigner(KEY, clock=lambda: NOW)
    _, query = _query(signer.url("ab/cd/x.webp", IMAGE))
    with pytest.raises(SignatureError, match="does not match"):
        signer.verify("ab/cd/y.webp", query)


def test_another_key_does_not_verify() -> None:
    signer = MediaSigner(KEY, clock=lambda: NOW)
    key, query = _query(signer.url("ab/cd/x.webp", IMAGE))
    with pytest.raises(SignatureError, match="does not match"):
        MediaSigner(b"o" * 32, clock=lambda: NOW).verify(key, query)


def test_the_url_names_what_a_cache_purges_and_the_policy() -> None:
    # given an image of no artwork (a post's) whose artist allows training
    signer = MediaSigner(KEY, clock=lambda: NOW)
    image = ImageRef(asset=5, artist=6, artwork=None, policy=TrainingPolicy.ALLOWED)
    key, query = _query(signer.url("ab/cd/x.webp", image))
    # then the URL says so, and verifies to the same image
    assert (query["m"], query["u"], query["t"], "w" in query) == ("5", "6", "a", False)
    assert signer.verify(key, query).image == image
    assert image.surrogate_keys() == ("asset-5", "artist-6")
    assert IMAGE.surrogate_keys() == ("asset-42", "artwork-9", "artist-7")
    # and the same image under another policy has another URL
    reserved = ImageRef(asset=5, artist=6, artwork=None, policy=TrainingPolicy.DISALLOWED)
    assert signer.url("ab/cd/x.webp", reserved) != signer.url("ab/cd/x.webp", image)


@pytest.mark.parametrize(
    ("environ", "prefix"),
    [
        ({}, "/media/"),
        ({"GESSO_PUBLIC_URL": "https://art.example/"}, "https://art.example/media/"),
        (
            {"GESSO_PUBLIC_URL": "https://art.example", "GESSO_MEDIA_BASE_URL": "https://cdn.x/"},
            "https://cdn.x/media/",
        ),
    ],
)
def test_media_urls_are_absolute_when_a_host_is_configured(
    environ: dict[str, str], prefix: str, tmp_path: Path
) -> None:
    settings = read_settings({"GESSO_DATA_DIR": str(tmp_path), **environ}, tmp_path / ".env")
    signer = MediaSigner(KEY, clock=lambda: NOW)
    url = media_urls(settings, signer)("ab/cd/x.webp", IMAGE)
    assert url == prefix + signer.url("ab/cd/x.webp", IMAGE).removeprefix("/media/")
