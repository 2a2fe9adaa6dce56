"""Persisted queries: built from the settings, and registered from ``.graphql`` files.

``gesso persisted register FILE...`` reads the frontend's documents, validates each operation
against the schema (production limits included, so nothing registered is refused later), and
writes one entry per operation, its text being the operation and the fragments it uses, printed
canonically. The frontend sends that text's SHA-256 (``gesso persisted list`` shows them).
"""

from __future__ import annotations

from pathlib import Path

import click
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from server.settings import Settings, SettingsError, get_settings
from storage.persisted import (
    CacheBounds,
    ManifestError,
    MemoryQueryCache,
    PersistedQueries,
    QueryCache,
    RedisQueryCache,
    RegisteredOperation,
    read_manifest,
    sha256_of,
    write_manifest,
)


def create_persisted_queries(settings: Settings) -> PersistedQueries:
    if settings.persisted_queries == "off":
        # Still answers a persisted query, with PersistedQueryNotSupported, so that a client
        # stops sending hashes.
        return PersistedQueries("off", MemoryQueryCache(CacheBounds(1, 1024, 1024)))
    try:
        registered = read_manifest(settings.persisted_queries_file)
    except ManifestError as error:
        raise SettingsError(f"GESSO_PERSISTED_QUERIES_FILE: {error}") from None
    if settings.persisted_queries == "allowlist" and not registered:
        raise SettingsError(
            "GESSO_PERSISTED_QUERIES=allowlist needs registered operations in "
            f"{settings.persisted_queries_file} (gesso persisted register FILE...)"
        )
    bounds = CacheBounds(
        settings.apq_max_entries, settings.apq_max_bytes, settings.apq_max_query_bytes
    )
    cache: QueryCache = (
        RedisQueryCache(settings.redis_url, settings.apq_ttl_seconds, bounds)
        if settings.redis_url is not None
        else MemoryQueryCache(bounds)
    )
    return PersistedQueries(settings.persisted_queries, cache, registered)


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_args: object) -> None:
        self.names.add(node.name.value)


def operations_of(document: DocumentNode) -> list[tuple[str | None, str]]:
    """Each operation of ``document`` as (name, canonical text with the fragments it uses)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    found: list[tuple[str | None, str]] = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        needed: dict[str, FragmentDefinitionNode] = {}
        pending: list[object] = [definition]
        while pending:
            spreads = _Spreads()
            visit(pending.pop(), spreads)  # type: ignore[arg-type]
            for spread in sorted(spreads.names - needed.keys()):
                if spread in fragments:
                    needed[spread] = fragments[spread]
                    pending.append(fragments[spread])
        single = DocumentNode(definitions=(definition, *needed.values()))
        name = definition.name.value if definition.name else None
        found.append((name, print_ast(single)))
    return found


def register_files(paths: list[Path]) -> dict[str, RegisteredOperation]:
    """Parse and validate every operation in ``paths``; raises ``click.ClickException``."""
    from schema.limits import PRODUCTION_LIMITS, check_document
    from schema.root import schema

    registered: dict[str, RegisteredOperation] = {}
    for path in paths:
        try:
            document = parse(path.read_text())
        except GraphQLSyntaxError as error:
            raise click.ClickException(f"{path}: {error.message}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise click.ClickException(f"{path}: cannot read ({error})") from None
        operations = operations_of(document)
        if not operations:
            raise click.ClickException(f"{path}: no operation in the file")
        for name, text in operations:
            errors = check_document(schema._schema, parse(text), PRODUCTION_LIMITS)
            if errors:
                label = name or "anonymous operation"
                raise click.ClickException(f"{path}: {label}: {errors[0].message}")
            registered[sha256_of(text)] = RegisteredOperation(name, text)
    return registered


@click.group()
def persisted() -> None:
    """Persisted queries: register the frontend's operations for the allowlist."""


@persisted.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write (default GESSO_PERSISTED_QUERIES_FILE or persisted-queries.json).",
)
@click.option("--replace", is_flag=True, help="Drop operations registered before.")
def register(files: tuple[Path, ...], manifest: Path | None, replace: bool) -> None:
    """Validate the operations in FILES and register each one."""
    path = manifest or get_settings().persisted_queries_file
    try:
        current = {} if replace else read_manifest(path)
    except ManifestError as error:
        raise click.ClickException(str(error)) from None
    added = register_files(list(files))
    new = {h: op for h, op in added.items() if h not in current}
    write_manifest(path, {**current, **added})
    for sha256, operation in sorted(added.items(), key=lambda i: (i[1].name or "", i[0])):
        mark = "new" if sha256 in new else "kept"
        click.echo(f"{sha256}  {operation.name or '(anonymous)'}  {mark}")
    click.echo(f"{len(added)} operations ({len(new)} new) in {path}")


@persisted.command(name="list")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None)
def list_operations(manifest: Path | None) -> None:
    """The registered operations and their hashes."""
    path = manifest or get_settings().persisted_queries_file
    try:
        operations = read_manifest(path)
    except ManifestError as error:
        raise click.ClickException(str(error)) from None
    for sha256, operation in sorted(operations.items(), key=lambda i: (i[1].name or "", i[0])):
        click.echo(f"{sha256}  {operation.name or '(anonymous)'}")
    click.echo(f"{len(operations)} operations in {path}")
