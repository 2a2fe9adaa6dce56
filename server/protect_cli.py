"""``gesso protect`` and ``gesso identify``: the imaging pipeline on local files.

``protect`` runs `imaging.pipeline.protect` on one file, writes one published derivative and prints
the report; ``identify`` reads the watermark back from any image file and looks the id up in the
database. Both key the watermark with this server's platform secret (`server.secrets`), so a file
protected here is identified by the server that shares its ``GESSO_SECRET_KEY`` (or, in
development, its ``data/secret.key``).

The cloak key: `server.secrets.cloak_key` is keyed by an artist's integer id, and the command line
has an artist *name*, not an account. `artist_key_id` maps the name to a stable negative integer
(a hash of the normalised name), so the same name gets the same decoy style on every run and on
every machine that shares the secret, and the id can never be one of the server's (positive,
time-ordered) account ids: the command line never reproduces an account's cloak key.

Exit codes: 0 success (``identify``: a watermark was found), 1 ``identify`` found no watermark,
2 usage error or refused input (``error: <message> (<code>)``), 3 the database could not be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import json
import os
import secrets
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from imaging.derivatives import Derivative
from imaging.errors import ImagingError, TooLargeBytes
from imaging.ingest import MAX_BYTES
from imaging.metadata import MAX_TEXT, RightsMetadata, xmp_packet
from imaging.pipeline import STAGES, ProtectedImage, identify, protect
from server.secrets import cloak_key, platform_secret, watermark_key
from server.settings import Settings, SettingsError

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_DATABASE",
    "EXIT_NOT_FOUND",
    "OUTPUT_EXTENSIONS",
    "artist_key_id",
    "default_rights",
    "run_identify",
    "run_protect",
]

# Which display derivative each output extension gets (`imaging.derivatives.Derivative.extension`).
OUTPUT_EXTENSIONS = {".webp": "webp", ".jpg": "jpg", ".jpeg": "jpg"}
EXIT_NOT_FOUND = 1
EXIT_BAD_INPUT = 2
EXIT_DATABASE = 3
_OUTPUT_DERIVATIVE = "display"


def artist_key_id(name: str) -> int:
    """The integer `server.secrets.cloak_key` is keyed by for an artist named on the command line.

    SHA-256 of the name (NFKC, trimmed, case-folded) taken as a 63-bit number and mapped to
    ``[-2**63, -1]``: stable across runs and machines, and disjoint from account ids (see the
    module docstring).
    """
    canonical = unicodedata.normalize("NFKC", name).strip().casefold()
    digest = hashlib.sha256(b"gesso-cli-artist\x00" + canonical.encode()).digest()
    return -1 - (int.from_bytes(digest[:8], "big") >> 1)


def default_rights(artist: str, year: int) -> str:
    """``© <year> <artist>. All rights reserved. No AI training.``, at most `MAX_TEXT` characters
    (a very long name is shortened with an ellipsis)."""
    head, tail = f"© {year} ", ". All rights reserved. No AI training."
    room = MAX_TEXT - len(head) - len(tail)
    name = artist if len(artist) <= room else artist[: room - 1].rstrip() + "…"
    return head + name + tail


def run_protect(
    settings: Settings,
    *,
    source: Path,
    output: Path,
    intensity: str | None,
    artist: str | None,
    rights: str | None,
    asset_id: int | None,
    force: bool,
    as_json: bool,
) -> None:
    """The body of ``gesso protect`` (options already parsed by click)."""
    extension = _output_extension(output, force=force)
    artist_name = artist if artist is not None else _current_user()
    rights_text = (
        rights if rights is not None else default_rights(artist_name.strip(), date.today().year)
    )
    _check_texts(artist_name, rights_text)
    secret = _secret(settings)
    if asset_id is None:
        asset_id = secrets.randbits(48)

    try:
        data = _read(source)
        with _StageProgress() as report_progress:
            result = protect(
                data,
                asset_id=asset_id,
                artist_key=cloak_key(secret, artist_key_id(artist_name)),
                watermark_key=watermark_key(secret),
                intensity=intensity or settings.cloak_intensity,
                artist_name=artist_name,
                rights=rights_text,
                progress=report_progress,
            )
    except ImagingError as error:
        _refuse(error)

    chosen = next(
        item
        for item in result.derivatives
        if item.name == _OUTPUT_DERIVATIVE and item.extension == extension
    )
    _write_atomically(output, chosen.data, force=force)
    if not chosen.watermark_verified:
        click.echo(
            f"warning: the watermark could not be read back from {output} "
            f"({chosen.watermark_bits} of {result.report.watermark_payload_bits} bits)",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_report(result, chosen, output)


def run_identify(settings: Settings, *, path: Path, as_json: bool) -> None:
    """The body of ``gesso identify``; exits 1 when no watermark is found."""
    key = watermark_key(_secret(settings))
    try:
        found = identify(_read(path), watermark_key=key)
    except ImagingError as error:
        _refuse(error)
    if found is None:
        click.echo(json.dumps({"watermark_id": None}) if as_json else "no Gesso watermark found")
        sys.exit(EXIT_NOT_FOUND)

    lookup = _look_up(settings.database_url, found)
    if as_json:
        click.echo(
            json.dumps(
                {"watermark_id": found, "database": lookup.status, "asset": lookup.asset},
                indent=2,
            )
        )
    else:
        click.echo(f"watermark id: {found}")
        for line in _describe(lookup):
            click.echo(line)
    if lookup.status == "error":
        click.echo(f"error: cannot look the id up in the database: {lookup.error}", err=True)
        sys.exit(EXIT_DATABASE)


# -- protect ----------------------------------------------------------------------------------


def _output_extension(output: Path, *, force: bool) -> str:
    """Check ``-o`` before any work is done; return the derivative's extension."""
    extension = OUTPUT_EXTENSIONS.get(output.suffix.lower())
    if extension is None:
        raise click.UsageError(
            f"cannot tell the output format from {output.name!r}: name it .webp, .jpg or .jpeg"
        )
    if not output.parent.is_dir():
        raise click.UsageError(f"the directory of {output} does not exist")
    if output.exists() and not force:
        raise click.UsageError(f"{output} exists: pass --force to overwrite it")
    return extension


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise click.UsageError("cannot tell the current user name: pass --artist") from None


def _check_texts(artist: str, rights: str) -> None:
    if not artist.strip():
        raise click.BadParameter("must not be empty", param_hint="--artist")
    for hint, record in (
        ("--artist", RightsMetadata(creator=artist, rights="")),
        ("--rights", RightsMetadata(creator="", rights=rights)),
    ):
        try:
            xmp_packet(record)  # the pipeline's own check of the texts
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint=hint) from None


def _secret(settings: Settings) -> bytes:
    try:
        return platform_secret(settings)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None


def _read(path: Path) -> bytes:
    """The file's bytes, reading no more than the pipeline's byte cap (plus one, to detect it)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise click.FileError(str(path), hint=error.strerror or str(error)) from None
    if len(data) > MAX_BYTES:
        raise TooLargeBytes(f"{path.name} is larger than the limit of {MAX_BYTES} bytes")
    return data


class _StageProgress:
    """A rich progress bar on stderr, driven by `imaging.pipeline.protect`'s callback."""

    def __init__(self) -> None:
        console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self._bar.add_task("protecting", total=float(len(STAGES)))

    def __call__(self, stage: str, fraction: float) -> None:
        self._bar.update(
            self._task, completed=fraction * len(STAGES), description=stage, refresh=True
        )

    def __enter__(self) -> _StageProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bar.stop()


def _refuse(error: ImagingError) -> NoReturn:
    click.echo(f"error: {error.message} ({error.code})", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _write_atomically(path: Path, data: bytes, *, force: bool) -> None:
    """Write a temporary file next to ``path``, then rename it over ``path`` in one step."""
    umask = os.umask(0o022)
    os.umask(umask)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~umask)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # Checked again: the file may have appeared while the pipeline ran.
        if path.exists() and not force:
            raise click.UsageError(f"{path} exists: pass --force to overwrite it")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _print_report(result: ProtectedImage, written: Derivative, path: Path) -> None:
    report = result.report
    quality = report.fidelity
    console = Console(highlight=False)

    summary = Table(
        title="protection report", show_header=False, title_justify="left", box=box.SIMPLE
    )
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("asset id", str(result.asset_id))
    summary.add_row(
        "written",
        f"{path} ({written.width} x {written.height}, {written.content_type}, "
        f"{written.byte_size:,} bytes)",
    )
    width, height = result.source.size
    summary.add_row("source", f"{result.source.source_format}, {width} x {height}")
    summary.add_row("cloak intensity", report.intensity)
    psnr = "identical" if quality.psnr_db == float("inf") else f"{quality.psnr_db:.2f} dB"
    summary.add_row("PSNR", psnr)
    summary.add_row("SSIM (luma)", f"{quality.ssim:.4f}")
    summary.add_row("CIEDE2000 mean", f"{quality.ciede2000_mean:.3f}")
    summary.add_row("CIEDE2000 p99", f"{quality.ciede2000_p99:.3f}")
    summary.add_row("cloak effect", f"{report.cloak_effect:.1%}")
    summary.add_row("watermark strength", f"{report.watermark_strength:.1f}x")
    console.print(summary)

    files = Table(title="derivatives", title_justify="left", box=box.SIMPLE_HEAD)
    files.add_column("file", no_wrap=True)
    for heading in ("size", "bytes", "watermark", "verified", "cloak effect"):
        files.add_column(heading, justify="right")
    for check in report.derivatives:
        verified = "yes" if check.watermark_verified else "no"
        files.add_row(
            check.name,
            f"{check.width} x {check.height}",
            f"{check.byte_size:,}",
            f"{check.watermark_bits}/{report.watermark_payload_bits}",
            verified + ("*" if check.watermark_required else ""),
            f"{check.cloak_effect:.1%}",
        )
    files.caption = "* verification required at this size"
    files.caption_justify = "left"
    console.print(files)

    timings = Table(title="timings", title_justify="left", box=box.SIMPLE_HEAD)
    timings.add_column("stage")
    timings.add_column("ms", justify="right")
    for stage in STAGES:
        if stage in report.timings:
            timings.add_row(stage, f"{report.timings[stage] * 1000:.0f}")
    timings.add_row("total", f"{sum(report.timings.values()) * 1000:.0f}", style="bold")
    console.print(timings)


# -- identify ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lookup:
    """What the database says about a watermark id.

    ``status`` is ``"ok"`` (``asset`` is the row, or None when unknown), ``"not_set_up"`` (no
    ``media_assets`` table) or ``"error"`` (``error`` says why).
    """

    status: str
    asset: dict[str, Any] | None = None
    error: str | None = None


class _NotSetUp(Exception):
    pass


def _look_up(database_url: str, watermark_id: int) -> _Lookup:
    from tortoise.exceptions import BaseORMException

    from storage.db import DatabaseUrlError

    try:
        asset = asyncio.run(_find_asset(database_url, watermark_id))
    except _NotSetUp:
        return _Lookup(status="not_set_up")
    except (BaseORMException, DatabaseUrlError, OSError) as error:
        return _Lookup(status="error", error=str(error) or type(error).__name__)
    return _Lookup(status="ok", asset=asset)


def _sqlite_file_missing(database_url: str) -> bool:
    """A SQLite URL naming a file that does not exist (connecting would create it, empty)."""
    scheme, _, rest = database_url.partition("://")
    if scheme != "sqlite":
        return False
    path = rest.split("?", 1)[0]
    return path != ":memory:" and not Path(path).exists()


async def _find_asset(database_url: str, watermark_id: int) -> dict[str, Any] | None:
    from tortoise import connections

    from storage import db
    from storage.models import MediaAsset

    if _sqlite_file_missing(database_url):
        raise _NotSetUp
    await db.connect(database_url)
    try:
        connection = connections.get("default")
        table = MediaAsset._meta.db_table
        if connection.capabilities.dialect == "sqlite":
            rows = await connection.execute_query_dict(
                "SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
            )
            present = bool(rows)
        else:
            rows = await connection.execute_query_dict(
                "SELECT to_regclass($1) IS NOT NULL AS present", [table]
            )
            present = bool(rows[0]["present"])
        if not present:
            raise _NotSetUp
        asset = (
            await MediaAsset.filter(watermark_id=watermark_id)
            .select_related("owner", "artwork")
            .first()
        )
        if asset is None:
            return None
        artwork = asset.artwork
        return {
            "id": asset.id,
            "kind": str(asset.kind),
            "owner": {
                "id": asset.owner.id,
                "handle": asset.owner.handle,
                "display_name": asset.owner.display_name,
            },
            "artwork": None if artwork is None else {"id": artwork.id, "title": artwork.title},
            "post_id": asset.post_id,
        }
    finally:
        await db.close()


def _describe(lookup: _Lookup) -> list[str]:
    if lookup.status == "not_set_up":
        return ["the database is not set up (run `gesso migrate`): cannot look the id up"]
    if lookup.status == "error":
        return []
    asset = lookup.asset
    if asset is None:
        return ["not an asset of this server"]
    owner = asset["owner"]
    name = f" ({owner['display_name']})" if owner["display_name"] else ""
    lines = [f"owner: @{owner['handle']}{name}", f"kind: {asset['kind']}"]
    if asset["artwork"] is not None:
        lines.append(f"artwork: {asset['artwork']['id']} {asset['artwork']['title']!r}")
    if asset["post_id"] is not None:
        lines.append(f"post: {asset['post_id']}")
    return lines
