"""The ``gesso`` command line.

Commands: serve, worker, migrate, seed, export-schema, varnish-vcl, makemigrations, protect,
identify and persisted.
"""

from __future__ import annotations

import asyncio
import logging.config
import os
import sys
from pathlib import Path

import click

from server.settings import SettingsError, get_settings

SCHEMA_FILE = Path("schema.graphql")
# How much ``gesso worker`` lowers its CPU priority by default: protection is throughput work,
# the API's feed reads are latency work; where the two share a host's cores, the reads go first.
WORKER_NICE = 10


@click.group()
def main() -> None:
    """Gesso: the backend of an artist-first social platform."""
    try:
        get_settings()
    except SettingsError as error:
        raise click.UsageError(str(error)) from None


@main.command()
@click.option("--host", default=None, help="Bind address (default GESSO_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default GESSO_PORT or 8000).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def serve(host: str | None, port: int | None, workers: int, reload: bool) -> None:
    """Apply pending migrations and serve the API (GraphiQL on /graphql in development)."""
    import uvicorn

    from server.logging import logging_config
    from server.wsprotocol import GessoWebSocketProtocol
    from storage.mail import mailer_for

    settings = get_settings()
    click.echo(f"mail: {mailer_for(settings.smtp_url, settings.data_dir / 'mail').describe()}")
    asyncio.run(_migrate(settings.database_url))
    # Migrated once here, so the worker processes need not race to do it again.
    os.environ["GESSO_MIGRATE_ON_START"] = "false"
    get_settings.cache_clear()
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        reload=reload,
        access_log=False,
        # permessage-deflate keeps a zlib state of ~45 KiB per websocket; live events are small.
        ws_per_message_deflate=settings.ws_compression,
        ws=GessoWebSocketProtocol,
        # No proxy is trusted unless configured: uvicorn's own default believes X-Forwarded-For
        # from loopback, which lets any local client pick the address its rate limits count.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.forwarded_allow_ips),
        log_level="info",
        log_config=logging_config(settings.log_format),
    )


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs at once (each takes a core; prefer more processes).",
)
@click.option(
    "--nice",
    type=click.IntRange(0, 19),
    default=WORKER_NICE,
    show_default=True,
    help="Lower this process's CPU priority by this much (0 keeps it): on a host it shares"
    " with API processes, feed reads go first.",
)
def worker(concurrency: int, nice: int) -> None:
    """Run protection jobs from the Redis queue (REDIS_URL) until stopped."""
    from server.logging import logging_config
    from server.worker import run_worker

    if nice:
        os.nice(nice)
    settings = get_settings()
    logging.config.dictConfig(logging_config(settings.log_format))
    try:
        asyncio.run(run_worker(settings, concurrency=concurrency))
    except SettingsError as error:
        raise click.UsageError(str(error)) from None


async def _migrate(url: str) -> None:
    from storage import db

    try:
        await db.migrate(url)
    finally:
        await db.close()


@main.command()
def migrate() -> None:
    """Apply every pending schema migration to DATABASE_URL."""
    settings = get_settings()
    asyncio.run(_migrate(settings.database_url))
    click.echo(f"database is up to date ({_redacted(settings.database_url)})")


@main.command()
@click.option("--demo", is_flag=True, required=True, help="Create demo artists and content.")
@click.option("--artists", type=click.IntRange(2, 200), default=6, show_default=True)
def seed(demo: bool, artists: int) -> None:
    """Fill the database with demo artists (avatars, artworks and posts with protected pictures),
    follows, likes and comments; run again, it adds only what is missing."""
    from server.seed import run_demo_seed

    settings = get_settings()
    asyncio.run(_migrate(settings.database_url))
    summary = asyncio.run(run_demo_seed(settings, artists=artists))
    click.echo(summary)


@main.group()
def admin() -> None:
    """Roles: who may moderate (members report, moderators resolve, admins read the log)."""


_ROLES = click.Choice(["moderator", "admin"], case_sensitive=False)


@admin.command("grant")
@click.argument("handle")
@click.argument("role", type=_ROLES)
def admin_grant(handle: str, role: str) -> None:
    """Give HANDLE the ROLE (moderator or admin); written to the audit log."""
    _set_role(handle, role, granted=True)


@admin.command("revoke")
@click.argument("handle")
@click.argument("role", type=_ROLES)
def admin_revoke(handle: str, role: str) -> None:
    """Take the ROLE back from HANDLE (a member again); written to the audit log."""
    _set_role(handle, role, granted=False)


def _set_role(handle: str, role: str, *, granted: bool) -> None:
    from resolvers.errors import InputError
    from resolvers.moderation import set_role
    from storage import db
    from storage.models import Role

    settings = get_settings()
    asyncio.run(_migrate(settings.database_url))

    async def run() -> str:
        await db.connect(settings.database_url)
        try:
            user = await set_role(handle, Role(role.lower()), granted=granted)
        finally:
            await db.close()
        return f"@{user.handle} is now {user.role.value}"

    try:
        click.echo(asyncio.run(run()))
    except InputError as error:
        click.echo(f"error: {error.message}", err=True)
        sys.exit(1)


@main.command("export-schema")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=SCHEMA_FILE
)
@click.option("--check", is_flag=True, help="Exit 1 if the file differs from the schema.")
def export_schema(output: Path, check: bool) -> None:
    """Write the GraphQL SDL (schema.graphql)."""
    from schema.root import schema

    sdl = schema.as_str() + "\n"
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != sdl:
            click.echo(f"{output} is stale: run `gesso export-schema`", err=True)
            sys.exit(1)
        click.echo(f"{output} is current")
        return
    output.write_text(sdl, encoding="utf-8")
    click.echo(f"wrote {output}")


@main.command("varnish-vcl")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Default: deploy/varnish/ai_crawlers.vcl.",
)
@click.option("--check", is_flag=True, help="Exit 1 if the file differs from the crawler list.")
def varnish_vcl(output: Path | None, check: bool) -> None:
    """Write the media cache's AI crawler refusal (VCL) from server/ai_crawlers.txt."""
    from server.crawlers import known_crawlers
    from server.varnish import CRAWLER_VCL, crawler_vcl

    output = output or CRAWLER_VCL
    vcl = crawler_vcl(known_crawlers())
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != vcl:
            click.echo(f"{output} is stale: run `gesso varnish-vcl`", err=True)
            sys.exit(1)
        click.echo(f"{output} is current")
        return
    output.write_text(vcl, encoding="utf-8")
    click.echo(f"wrote {output}")


@main.command()
@click.option("--name", default=None, help="Migration name suffix.")
@click.option("--check", is_flag=True, help="Exit 1 if the models have unmigrated changes.")
def makemigrations(name: str | None, check: bool) -> None:
    """Write a migration for model changes (development)."""
    from tortoise.cli.cli import run_cli_async

    if check:
        pending = asyncio.run(_pending_migration_operations())
        if pending:
            click.echo("models changed without a migration: run `gesso makemigrations`", err=True)
            for operation in pending:
                click.echo(f"  {operation}", err=True)
            sys.exit(1)
        click.echo("migrations match the models")
        return
    argv = ["--config", "storage.db.AUTODETECT_CONFIG", "makemigrations"]
    if name:
        argv += ["--name", name]
    sys.exit(asyncio.run(run_cli_async(argv)))


async def _pending_migration_operations() -> list[str]:
    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    from storage.db import AUTODETECT_CONFIG

    async with TortoiseContext() as ctx:
        await ctx.init(config=AUTODETECT_CONFIG)
        assert ctx.apps is not None
        writers = await MigrationAutodetector(ctx.apps, AUTODETECT_CONFIG["apps"]).changes()
    return [repr(op) for writer in writers for op in writer.operations]


@main.command()
@click.argument(
    "source",
    metavar="IN",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the display file: .webp for WebP, .jpg or .jpeg for JPEG.",
)
@click.option(
    "--intensity",
    type=click.Choice(["low", "default", "high"]),
    default=None,
    help="Cloak intensity (default GESSO_CLOAK_INTENSITY, else default).",
)
@click.option("--artist", default=None, help="Creator written into the file (default: OS user).")
@click.option("--rights", default=None, help="Rights statement (default: © <year> <artist>. ...).")
@click.option(
    "--asset-id",
    type=click.IntRange(0, 2**48 - 1),
    default=None,
    help="The id the watermark carries (default: random 48 bits).",
)
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def protect(
    source: Path,
    output: Path,
    intensity: str | None,
    artist: str | None,
    rights: str | None,
    asset_id: int | None,
    force: bool,
    as_json: bool,
) -> None:
    """Cloak, watermark and label the image IN; write its display file to OUT and report.

    Exit status 2 (with `error: <message> (<code>)`) when the image is refused.
    """
    from server.protect_cli import run_protect

    run_protect(
        get_settings(),
        source=source,
        output=output,
        intensity=intensity,
        artist=artist,
        rights=rights,
        asset_id=asset_id,
        force=force,
        as_json=as_json,
    )


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def identify(file: Path, as_json: bool) -> None:
    """Read the Gesso watermark of FILE and look its id up in the database.

    Exit status: 0 watermark found, 1 none found, 2 refused image, 3 database unreadable.
    """
    from server.protect_cli import run_identify

    run_identify(get_settings(), path=file, as_json=as_json)


@main.command("c2pa-init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the files (default $GESSO_DATA_DIR/c2pa).",
)
@click.option("--force", is_flag=True, help="Replace files that exist.")
def c2pa_init(directory: Path | None, force: bool) -> None:
    """Make a development CA and a signing certificate for C2PA content credentials."""
    from server.c2pa_ca import write_development_ca

    target = directory or get_settings().data_dir / "c2pa"
    try:
        paths = write_development_ca(target.resolve(), force=force)
    except FileExistsError as error:
        raise click.UsageError(str(error)) from None
    click.echo("Development certificates written; readers trust them only if told to. Set:")
    click.echo(f"GESSO_C2PA_CERT={paths.certificate}")
    click.echo(f"GESSO_C2PA_KEY={paths.key}")
    click.echo(f"GESSO_C2PA_CA={paths.ca_certificate}")


def _redacted(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def _add_persisted() -> None:
    from server.persisted import persisted

    main.add_command(persisted)


_add_persisted()
