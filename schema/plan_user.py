"""Compiled plans rooted at ``user(handle:)``: a person's header and at most one page of theirs.

The profile screens ask for one person by handle: their own fields (counts, avatar, the viewer's
flags), and maybe one of their connections (``posts``, ``portfolio``, ``followers``,
``following``). A plan compiles such a document as ``schema.compiled`` compiles a feed's: every
field of ``User`` as its ``schema.fields`` entry says, the connection (``fields.Page``) into the
rows it needs, the objects of the page (posts with the feed card's writers, artworks, people)
by their own tables. Executing it reads the person (``resolvers.usersql``: one statement by
handle, with the viewer's follow and whether a block or a suspension hides them), the page (one
more), and the images the selection shows (``resolvers.pagemedia``).

A person who does not exist, or whom ``rules.VISIBLE`` hides from the viewer, reads as null, as
``Query.user`` answers. Any input the regular path would refuse or convert (a handle it does not
store, ``first`` out of range, a foreign cursor, a page over the cost limit, a variable that does
not coerce) raises ``Fallback`` before any SQL runs, and the regular path answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
)

from resolvers.errors import BadRequest
from resolvers.feedsql import FeedPage, _ordered, read_mentions
from resolvers.pagination import decode_cursor, encode_cursor
from resolvers.surrogates import ImageRef
from resolvers.usersql import (
    AuthorPageReader,
    FollowReader,
    ListPage,
    PersonReader,
    PortfolioReader,
    person_page,
)
from resolvers.validation import HANDLE_MAX, storable
from schema.budget import measure_operation
from schema.compiled import (
    ConnectionWriter,
    Fallback,
    Field,
    ObjectWriter,
    Unsupported,
    Variable,
    _Compiler,
    _constant,
    _name,
    _no_arguments,
    field_arguments,
    make_writer,
    page_arguments,
    value_of,
)
from schema.fields import How, Page
from schema.root import schema
from schema.routing import only_replica_fields
from storage.models import User

# connection -> (its type, its edge's type, its nodes' type, the kind of its cursors)
_CONNECTIONS = {
    "posts": ("PostConnection", "PostEdge", "Post", "post"),
    "portfolio": ("ArtworkConnection", "ArtworkEdge", "Artwork", "portfolio"),
    "followers": ("UserConnection", "UserEdge", "User", "follow"),
    "following": ("UserConnection", "UserEdge", "User", "follow"),
}
_PAGE_ARGUMENTS = {"first": int, "after": str}
_DEFAULT_FIRST = 20  # the schema's default for every connection of a person


class ListConnection:
    """The writer of a connection of artworks or people from a ``ListPage``."""

    def __init__(self, type_name: str, parts: list[tuple[str, str, Any]], cursor: str) -> None:
        self.type_name, self.parts, self.cursor = type_name, parts, cursor

    def write(self, listed: ListPage, after: str | None) -> dict[str, Any]:
        page = listed.page
        cursors = [encode_cursor(self.cursor, *key) for key, _ in listed.entries]
        # an entry not shown (gone, or hidden from the viewer) keeps its cursor, not its edge
        shown = [
            (row, cursor)
            for (_, row), cursor in zip(listed.entries, cursors, strict=True)
            if row is not None
        ]
        out: dict[str, Any] = {}
        for key, kind, spec in self.parts:
            if kind == "constant":
                out[key] = spec
            elif kind == "nodes":
                out[key] = [spec(row, page) for row, _ in shown]
            elif kind == "edges":
                out[key] = [spec(row, cursor, page) for row, cursor in shown]
            else:
                values = {
                    "__typename": "PageInfo",
                    "hasNextPage": listed.has_next,
                    "hasPreviousPage": after is not None,
                    "startCursor": cursors[0] if cursors else None,
                    "endCursor": cursors[-1] if cursors else None,
                }
                out[key] = {k: values[name] for k, name in spec}
        return out


@dataclass(frozen=True, slots=True)
class PageSpec:
    """The person's connection a document selects."""

    key: str  # its response key in the person's object
    kind: str  # "posts", "portfolio", "followers" or "following"
    arguments: dict[str, Any]  # "first", "after" -> literal value or Variable
    writer: ConnectionWriter | ListConnection


class _UserCompiler(_Compiler):
    def __init__(
        self, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Variable]
    ) -> None:
        super().__init__(fragments)
        self.variables = variables
        self.page: PageSpec | None = None
        self.inside = False  # compiling the objects of the person's page

    def field(self, type_name: str, name: str, how: How | None, nodes: list[FieldNode]) -> Field:
        if not isinstance(how, Page):
            return super().field(type_name, name, how, nodes)
        if type_name != "User" or self.inside or self.page is not None:
            raise Unsupported(f"{type_name}.{name}: one page, of the person only")
        arguments = field_arguments(nodes, self.variables, _PAGE_ARGUMENTS)
        self.inside = True
        try:
            writer: ConnectionWriter | ListConnection
            if how.kind == "posts":
                writer = self.connection(nodes)
            else:
                writer = self.list_connection(nodes, *_CONNECTIONS[how.kind])
        finally:
            self.inside = False
        key = (nodes[0].alias or nodes[0].name).value
        self.page = PageSpec(key, how.kind, arguments, writer)
        return "None"  # the plan puts the page there (UserPlan.execute)

    def list_connection(
        self, nodes: list[FieldNode], type_name: str, edge: str, node: str, cursor: str
    ) -> ListConnection:
        parts: list[tuple[str, str, Any]] = []
        for key, field_nodes in self.fields(nodes, type_name).items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name == "__typename":
                parts.append((key, "constant", type_name))
            elif name == "nodes":
                parts.append((key, "nodes", self.object(field_nodes, node)))
            elif name == "edges":
                parts.append((key, "edges", self.list_edge(field_nodes, edge, node)))
            elif name == "pageInfo":
                parts.append((key, "pageInfo", self.page_info(field_nodes)))
            else:
                raise Unsupported(f"{type_name}.{name}")
        return ListConnection(type_name, parts, cursor)

    def list_edge(self, nodes: list[FieldNode], edge: str, node: str) -> Any:
        """A function of (row, its cursor, page)."""
        fields: list[tuple[str, Field]] = []
        for key, field_nodes in self.fields(nodes, edge).items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name == "__typename":
                fields.append((key, _constant(edge)))
            elif name == "cursor":
                fields.append((key, "cursor"))
            elif name == "node":
                fields.append((key, self.object(field_nodes, node)))
            else:
                raise Unsupported(f"{edge}.{name}")
        return make_writer(fields, "row, cursor, page")


@dataclass(frozen=True, slots=True)
class UserPlan:
    """One compiled query operation: ``user(handle:)`` (and maybe ``__typename``) at the root."""

    operation_name: str | None
    root: list[tuple[str, str]]  # (response key, "__typename" or "user")
    handle: Any  # literal or Variable
    person: PersonReader
    writer: ObjectWriter  # the person's object (the page's key left None)
    page: PageSpec | None
    posts: AuthorPageReader | None
    follows: FollowReader | None
    portfolio: PortfolioReader | None
    media: Any  # resolvers.pagemedia.MediaReader
    replica: bool
    cost_base: int
    cost_per_item: int
    # the mentioned members' columns, when the selection shows mentions (resolvers.mentions)
    mentions: tuple[str, ...] | None = None

    def _handle(self, variables: dict[str, Any]) -> str:
        handle = value_of(self.handle, variables)
        # find_by_handle answers null for a handle it cannot store: the regular path says so
        if type(handle) is not str or len(handle) > HANDLE_MAX or not storable(handle):
            raise Fallback("input", "handle")
        return handle

    def _page_arguments(self, variables: dict[str, Any]) -> tuple[int, str | None]:
        assert self.page is not None
        return page_arguments(self.page.arguments, variables, default_first=_DEFAULT_FIRST)

    async def execute(
        self,
        viewer_id: int | None,
        variables: dict[str, Any],
        media_url: Callable[[str, ImageRef], str],
        max_cost: int | None = None,
    ) -> dict[str, Any]:
        """The response's ``data`` (see ``schema.compiled.Plan.execute``)."""
        handle = self._handle(variables)
        size, after, key = 0, None, None
        if self.page is not None:
            size, after = self._page_arguments(variables)
            if after is not None:
                cursor = _CONNECTIONS[self.page.kind][3]
                try:
                    key = decode_cursor(cursor, after)
                except BadRequest:
                    raise Fallback("input", "cursor") from None
        if max_cost is not None and self.cost_base + size * self.cost_per_item > max_cost:
            raise Fallback("input", "cost")
        person = await self.person.read(viewer_id, handle.lower())
        found: dict[str, Any] | None = None
        if person is not None and not person.hidden:
            listed: ListPage | None = None
            page: FeedPage
            if self.posts is not None:
                page = await self.posts.read_author(
                    viewer_id, person, size, key[0] if key is not None else None
                )
            elif self.follows is not None:
                listed = await self.follows.read(
                    viewer_id, person, size, key[0] if key is not None else None
                )
                page = listed.page
            elif self.portfolio is not None:
                listed = await self.portfolio.read(viewer_id, person, size, key)
                page = listed.page
            else:
                page = person_page(viewer_id, person)
            if self.mentions is not None:
                await read_mentions(page, self.mentions)
            if self.media:
                page.media = await self.media.read(page, media_url)
            found = self.writer(person.row, page)
            if self.page is not None:
                writer = self.page.writer
                if isinstance(writer, ConnectionWriter):
                    found[self.page.key] = writer.write(page, after)
                else:
                    assert listed is not None
                    found[self.page.key] = writer.write(listed, after)
        return {key: "Query" if name == "__typename" else found for key, name in self.root}


def compile_user(
    document: DocumentNode,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Variable],
    roots: dict[str, list[FieldNode]],
) -> UserPlan:
    """The plan of an operation whose one root field (besides ``__typename``) is ``user``."""
    (user_nodes,) = [nodes for nodes in roots.values() if _name(nodes) == "user"]
    arguments = field_arguments(user_nodes, variables, {"handle": str})
    if "handle" not in arguments:
        raise Unsupported("user without a handle")
    compiler = _UserCompiler(fragments, variables)
    writer = compiler.object(user_nodes, "User")
    spec = compiler.page
    used = [arguments["handle"], *(spec.arguments.values() if spec is not None else ())]
    if set(variables) - {v.name for v in used if isinstance(v, Variable)}:
        raise Unsupported("a variable the plan does not use")  # it must still coerce
    needs = compiler.needs()
    kind = spec.kind if spec is not None else None
    posts = AuthorPageReader(needs) if kind == "posts" else None
    user_columns = (
        posts.user_columns
        if posts is not None
        else _user_columns(frozenset(compiler.columns["User"]))
    )
    portfolio = None
    if kind == "portfolio":
        portfolio = PortfolioReader(frozenset(compiler.columns["Artwork"]))
    first = spec.arguments.get("first") if spec is not None else None
    if isinstance(first, Variable):
        at = [
            measure_operation(schema._schema, document, operation, {first.name: n}).cost
            for n in (0, 1)
        ]
        cost_base, cost_per_item = at[0], at[1] - at[0]
    else:
        cost_base, cost_per_item = measure_operation(schema._schema, document, operation).cost, 0
    name = operation.name.value if operation.name else None
    return UserPlan(
        operation_name=name,
        root=[(key, _name(nodes)) for key, nodes in roots.items()],
        handle=arguments["handle"],
        person=PersonReader(user_columns),
        writer=writer,
        page=spec,
        posts=posts,
        follows=FollowReader(user_columns, followers=kind == "followers")
        if kind in ("followers", "following")
        else None,
        portfolio=portfolio,
        media=compiler.media_reader(),
        mentions=compiler.mention_columns(),
        replica=only_replica_fields(document, name),
        cost_base=cost_base,
        cost_per_item=cost_per_item,
    )


def _user_columns(columns: frozenset[str]) -> tuple[str, ...]:
    """The person's columns, ordered as ``resolvers.feedsql`` orders a page's users'."""
    return _ordered(columns, User, "id")
