"""``gesso protect`` and ``gesso identify``, run as a user would run them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server.protect_cli import artist_key_id, default_rights

REPO = Path(__file__).resolve().parents[2]
ASSET_ID = 0xA5A5_1234_5678  # 48 bits
ARTIST = "Ada Lovelace"

# Inserts a user, an artwork and a MediaAsset carrying a watermark id (argv: url, watermark id).
_ADD_ASSET = """
import asyncio, sys
from storage import db
from storage.models import Artwork, MediaAsset, MediaKind, User

async def add(url: str, watermark_id: int) -> None:
    await db.connect(url)
    try:
        user = await User.create(
            handle="ada_inks", handle_key="ada_inks", email="ada@example.com",
            email_key="ada@example.com", password_hash="-", display_name="Ada Inks",
        )
        artwork = await Artwork.create(owner=user, title="Harbour at dusk")
        await MediaAsset.create(
            owner=user, artwork=artwork, kind=MediaKind.ARTWORK, watermark_id=watermark_id,
            width=640, height=512,
        )
    finally:
        await db.close()

asyncio.run(add(sys.argv[1], int(sys.argv[2])))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(REPO)
    env["COLUMNS"] = "120"  # rich's table width when stdout is not a terminal
    return env


def _gesso(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _photo(path: Path) -> Path:
    """A photo-like PNG: smooth colour gradients and a little grain (seeded)."""
    height, width = 512, 640  # short side >= 512: the display file must verify its watermark
    rng = np.random.default_rng(20)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy /= height
    xx /= width
    pixels = np.stack(
        [
            60.0 + 120.0 * xx + 40.0 * np.sin(6.0 * yy),
            80.0 + 100.0 * yy + 30.0 * np.cos(5.0 * xx),
            150.0 - 80.0 * xx * yy,
        ],
        axis=-1,
    )
    pixels += rng.normal(0.0, 4.0, pixels.shape)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, "PNG")
    return path


@dataclass(frozen=True)
class Studio:
    """A working directory where one photo was protected twice (its secret is in ./data)."""

    root: Path
    photo: Path
    webp: Path
    jpeg: Path
    text_run: subprocess.CompletedProcess[str]
    json_run: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    root = tmp_path_factory.mktemp("studio")
    photo = _photo(root / "photo.png")
    common = ("--asset-id", str(ASSET_ID), "--artist", ARTIST)
    text_run = _gesso("protect", "photo.png", "-o", "photo.webp", *common, cwd=root)
    json_run = _gesso("protect", "photo.png", "-o", "photo.jpeg", *common, "--json", cwd=root)
    return Studio(root, photo, root / "photo.webp", root / "photo.jpeg", text_run, json_run)


def _assert_clean_failure(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


def test_protect_prints_the_report(studio: Studio) -> None:
    result = studio.text_run
    assert result.returncode == 0, result.stderr
    _assert_clean_failure(result)
    for label in ("PSNR", "SSIM", "CIEDE2000 mean", "CIEDE2000 p99", "cloak effect", "timings"):
        assert label in result.stdout
    assert str(ASSET_ID) in result.stdout
    assert "display.webp" in result.stdout
    assert "thumbnail.jpg" in result.stdout
    assert "64/64" in result.stdout
    assert "perturb" in result.stdout


def test_the_written_files_are_the_requested_formats(studio: Studio) -> None:
    assert studio.webp.read_bytes()[8:12] == b"WEBP"
    assert studio.jpeg.read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(studio.webp) as image:
        assert image.size == (640, 512)
    assert not [p.name for p in studio.root.iterdir() if p.name.endswith(".tmp")]


def test_protect_json_is_the_protected_image_summary(studio: Studio) -> None:
    result = studio.json_run
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) == {"asset_id", "derivatives", "report", "metadata", "source"}
    assert summary["asset_id"] == ASSET_ID
    assert summary["metadata"]["creator"] == ARTIST
    assert summary["metadata"]["rights"].startswith("© ")
    assert ARTIST in summary["metadata"]["rights"]
    assert "No AI training" in summary["metadata"]["rights"]
    assert summary["source"]["size"] == [640, 512]
    report = summary["report"]
    assert report["fidelity"]["psnr_db"] > 35.0
    assert set(report["timings"]) == {
        "metadata",
        "ingest",
        "perturb",
        "watermark",
        "derivatives",
        "report",
    }
    display = [d for d in report["derivatives"] if d["name"].startswith("display.")]
    assert [d["watermark_verified"] for d in display] == [True, True]


@pytest.mark.parametrize("name", ["photo.webp", "photo.jpeg"])
def test_identify_reads_the_asset_id_back(studio: Studio, name: str) -> None:
    result = _gesso("identify", name, cwd=studio.root)
    assert result.returncode == 0, result.stderr
    assert f"watermark id: {ASSET_ID}" in result.stdout
    # No database was ever created here, and identify does not create one.
    assert "database is not set up" in result.stdout
    assert not (studio.root / "data" / "gesso.sqlite3").exists()


def test_identify_of_an_unmarked_image(studio: Studio) -> None:
    result = _gesso("identify", "photo.png", cwd=studio.root)
    assert result.returncode == 1
    assert result.stdout.strip() == "no Gesso watermark found"
    as_json = _gesso("identify", "photo.png", "--json", cwd=studio.root)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"watermark_id": None}


def test_protect_never_overwrites_without_force(studio: Studio, tmp_path: Path) -> None:
    shutil.copytree(studio.root / "data", tmp_path / "data")
    shutil.copy(studio.photo, tmp_path / "photo.png")
    target = tmp_path / "out.webp"
    target.write_bytes(b"keep me")
    refused = _gesso("protect", "photo.png", "-o", "out.webp", "--artist", ARTIST, cwd=tmp_path)
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert target.read_bytes() == b"keep me"

    forced = _gesso(
        "protect", "photo.png", "-o", "out.webp", "--force", "--asset-id", "7", cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    identified = _gesso("identify", "out.webp", cwd=tmp_path)
    assert "watermark id: 7\n" in identified.stdout


def test_protect_needs_a_known_output_extension(studio: Studio) -> None:
    result = _gesso("protect", "photo.png", "-o", "photo.gif", cwd=studio.root)
    assert result.returncode == 2
    assert ".webp, .jpg or .jpeg" in result.stderr
    assert not (studio.root / "photo.gif").exists()


def test_a_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    result = _gesso("protect", "nothing.png", "-o", "out.webp", cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    _assert_clean_failure(result)


_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600"><rect/></svg>'


@pytest.mark.parametrize(
    ("command", "content", "code"),
    [
        ("protect", b"", "EMPTY"),
        ("identify", b"", "EMPTY"),
        ("protect", _SVG, "UNSUPPORTED_FORMAT"),
        ("identify", _SVG, "UNSUPPORTED_FORMAT"),
    ],
    ids=["protect-empty", "identify-empty", "protect-svg", "identify-svg"],
)
def test_a_hostile_input_is_refused_cleanly(
    tmp_path: Path, command: str, content: bytes, code: str
) -> None:
    (tmp_path / "upload.png").write_bytes(content)
    extra = ("-o", "out.webp") if command == "protect" else ()
    result = _gesso(command, "upload.png", *extra, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert f"({code})" in result.stderr
    _assert_clean_failure(result)
    assert not (tmp_path / "out.webp").exists()


def test_identify_against_a_migrated_database(studio: Studio, tmp_path: Path) -> None:
    shutil.copytree(studio.root / "data", tmp_path / "data")
    shutil.copy(studio.webp, tmp_path / "photo.webp")
    migrated = _gesso("migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr

    unknown = _gesso("identify", "photo.webp", cwd=tmp_path)
    assert unknown.returncode == 0, unknown.stderr
    assert f"watermark id: {ASSET_ID}" in unknown.stdout
    assert "not an asset of this server" in unknown.stdout

    added = subprocess.run(
        [sys.executable, "-c", _ADD_ASSET, "sqlite://data/gesso.sqlite3", str(ASSET_ID)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    known = _gesso("identify", "photo.webp", cwd=tmp_path)
    assert known.returncode == 0, known.stderr
    assert "owner: @ada_inks (Ada Inks)" in known.stdout
    assert "'Harbour at dusk'" in known.stdout
    as_json = json.loads(_gesso("identify", "photo.webp", "--json", cwd=tmp_path).stdout)
    assert as_json["watermark_id"] == ASSET_ID
    assert as_json["database"] == "ok"
    assert as_json["asset"]["owner"]["handle"] == "ada_inks"
    assert as_json["asset"]["artwork"]["title"] == "Harbour at dusk"


def test_the_artist_key_id_is_stable_and_never_an_account_id() -> None:
    first = artist_key_id("Ada Lovelace")
    assert first == artist_key_id("  ada lovelace ")
    assert first != artist_key_id("Ada Byron")
    assert -(2**63) <= first < 0
    assert all(artist_key_id(f"artist {n}") < 0 for n in range(200))


def test_the_default_rights_fit_the_metadata_limit() -> None:
    assert default_rights("Ada", 2031) == "© 2031 Ada. All rights reserved. No AI training."
    long = default_rights("x" * 600, 2031)
    assert len(long) == 500
    assert long.endswith("x…. All rights reserved. No AI training.")
