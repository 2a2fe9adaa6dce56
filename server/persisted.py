"""Persisted queries: built from the settings, and registered from ``.graphql`` files.

``gesso persisted register FILE...`` reads the frontend's documents (``client/operations/``:
the fragments of any file, such as ``fragments.graphql``, are shared by all), validates each
operation against the schema (production limits included, a page size given by a variable
counted at the operation's default for it), and writes one entry per operation, its text being
the operation and the fragments it uses (transitively), printed canonically. The frontend sends
that text's SHA-256 (``gesso persisted list`` shows them).
"""

from __future__ import annotations

from dataclasses import dataclass
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


class DocumentError(Exception):
    """A ``.graphql`` file that cannot be registered; the message names the file."""


@dataclass(frozen=True, slots=True)
class ClientOperation:
    """One operation of a client's files: the file it is in, its name, and the text the client
    sends (the operation and the fragments it uses, transitively, printed canonically)."""

    path: Path
    name: str | None
    text: str


def operations_of(
    document: DocumentNode, fragments: dict[str, FragmentDefinitionNode] | None = None
) -> list[tuple[str | None, str]]:
    """Each operation of ``document`` as (name, canonical text with the fragments it uses).
    ``fragments``: where spread fragments are found (default: the document's own)."""
    if fragments is None:
        fragments = _fragments_of(document)
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


def _fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def client_operations(paths: list[Path]) -> list[ClientOperation]:
    """The operations of a client's ``.graphql`` files, as Apollo or Relay assemble them: the
    fragments of every file are shared (a file may hold fragments only), and each operation is
    sent with the fragments it spreads, transitively. Raises ``DocumentError`` for a file that
    does not parse, holds no definition, or defines a fragment another file defines otherwise."""
    documents: list[tuple[Path, DocumentNode]] = []
    fragments: dict[str, tuple[Path, FragmentDefinitionNode]] = {}
    for path in paths:
        try:
            document = parse(path.read_text(), no_location=True)
        except GraphQLSyntaxError as error:
            raise DocumentError(f"{path}: {error.message}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise DocumentError(f"{path}: cannot read ({error})") from None
        if not any(
            isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
            for d in document.definitions
        ):
            raise DocumentError(f"{path}: no operation or fragment in the file")
        for name, fragment in _fragments_of(document).items():
            known = fragments.get(name)
            if known is not None and print_ast(known[1]) != print_ast(fragment):
                raise DocumentError(f"{path}: fragment {name} is defined otherwise in {known[0]}")
            fragments.setdefault(name, (path, fragment))
        documents.append((path, document))
    pool = {name: fragment for name, (_path, fragment) in fragments.items()}
    found: list[ClientOperation] = []
    for path, document in documents:
        for operation_name, text in operations_of(document, pool):
            found.append(ClientOperation(path, operation_name, text))
    if not found:
        raise DocumentError("no operation in " + ", ".join(str(p) for p in paths))
    return found


def register_files(paths: list[Path]) -> dict[str, RegisteredOperation]:
    """Parse and validate every operation in ``paths`` (fragments shared between the files, see
    ``client_operations``); raises ``click.ClickException``."""
    from schema.limits import PRODUCTION_LIMITS, check_document
    from schema.root import schema

    try:
        operations = client_operations(paths)
    except DocumentError as error:
        raise click.ClickException(str(error)) from None
    registered: dict[str, RegisteredOperation] = {}
    for operation in operations:
        errors = check_document(schema._schema, parse(operation.text), PRODUCTION_LIMITS)
        if errors:
            label = operation.name or "anonymous operation"
            raise click.ClickException(f"{operation.path}: {label}: {errors[0].message}")
        registered[sha256_of(operation.text)] = RegisteredOperation(operation.name, operation.text)
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
