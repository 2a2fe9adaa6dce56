"""Compiled plans of one post or one artwork by id: the post page and the artwork page.

``schema.compiled`` hands a document whose one root field is ``post(id:)`` or ``artwork(id:)``
to ``compile_detail``. Its plan reads the object, if the viewer may see it, with what its page
shows (``resolvers.detailsql``: a post with the post it replies to and their attached artworks;
an artwork with its owner), a page of its comments with their authors (``resolvers.commentsql``)
and the images of all of them (``resolvers.pagemedia``), and writes the response with the
writers ``schema.compiled`` makes from the field registry (``schema.fields``). Only the root
object reaches ``replyTo`` and ``comments`` (``Post.replyTo`` of a reply's post, or the comments
of an attached artwork, keep the regular path), once each.

As for a feed page, any input the regular path refuses (an id that does not decode or names
another type, ``first`` out of range, another list's cursor, a page over the cost limit, a
variable that does not coerce exactly) raises ``Fallback`` before any SQL runs, and an object the
viewer may not see is null, as the regular path answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)

from resolvers.commentsql import CommentPage, CommentReader
from resolvers.detailsql import ArtworkReader, PostReader
from resolvers.errors import BadRequest, InputError
from resolvers.feedsql import FeedPage, read_mentions
from resolvers.pagemedia import MediaReader
from resolvers.pagination import decode_cursor, encode_cursor
from resolvers.surrogates import ImageRef
from schema.base import decode_id
from schema.budget import measure_operation
from schema.compiled import (
    _ABSENT,
    Fallback,
    Field,
    Getter,
    ObjectWriter,
    Unsupported,
    Variable,
    _Compiler,
    _constant,
    _literal,
    _name,
    _no_arguments,
    _related,
    _scalar_of,
    make_writer,
    page_arguments,
    value_of,
)
from schema.fields import Comments, How, Related, ReplyTo
from schema.root import schema
from schema.routing import only_replica_fields
from storage.rawsql import Row

ROOTS = {"post": "Post", "artwork": "Artwork"}  # root field -> the type of its object

# --- arguments ---------------------------------------------------------------------------------


def _variables(
    operation: OperationDefinitionNode,
) -> tuple[dict[str, Variable], dict[str, str]]:
    """The operation's variables, and the GraphQL type of each (``ID``, ``Int``, ``String``)."""
    found: dict[str, Variable] = {}
    types: dict[str, str] = {}
    for definition in operation.variable_definitions or ():
        if definition.directives:
            raise Unsupported("directive on a variable")
        node = definition.type
        named = node.type if isinstance(node, NonNullTypeNode) else node
        scalar: type
        if isinstance(named, NamedTypeNode) and named.name.value == "ID":
            # an ID sent as a number is converted by the regular path: Variable.value refuses it
            scalar, non_null, type_name = str, isinstance(node, NonNullTypeNode), "ID"
        else:
            scalar, non_null = _scalar_of(node)
            type_name = "Int" if scalar is int else "String"
        default = (
            _literal(definition.default_value) if definition.default_value is not None else _ABSENT
        )
        name = definition.variable.name.value
        found[name] = Variable(name, scalar, non_null, default)
        types[name] = type_name
    return found, types


_LITERALS: dict[str, tuple[type, ...]] = {
    "ID": (str,),
    "Int": (int, type(None)),
    "String": (str, type(None)),
}


def _source(
    node: ValueNode, variables: dict[str, Variable], types: dict[str, str], expected: str
) -> Any:
    """An argument's value (a literal) or its Variable, of the type ``expected``."""
    if isinstance(node, VariableNode):
        name = node.name.value
        if name not in variables or types[name] != expected:
            raise Unsupported(f"variable for an argument of type {expected}")
        return variables[name]
    if expected == "ID" and not isinstance(node, StringValueNode):
        raise Unsupported("an id that is not a string")
    value = _literal(node)
    if type(value) not in _LITERALS[expected]:
        raise Unsupported(f"literal for an argument of type {expected}")
    return value


# --- writers -----------------------------------------------------------------------------------


def _reply_to(writer: ObjectWriter) -> Getter:
    """``Post.replyTo``: the post replied to, when the page read it (the viewer may see it)."""

    def reply_to(row: Row, page: FeedPage) -> dict[str, Any] | None:
        target = row["reply_to_id"]
        if target is None:
            return None
        for post in page.posts:
            if post["id"] == target:
                return writer(post, page)
        return None

    return reply_to


class CommentsWriter:
    """A ``CommentConnection`` from the page of comments (``FeedPage.comments``)."""

    def __init__(self, parts: list[tuple[str, str, Any]]) -> None:
        self.parts = parts

    def write(self, page: FeedPage) -> dict[str, Any]:
        comments: CommentPage = page.comments
        rows = comments.comments
        cursors = [encode_cursor("comment", row["id"]) for row in rows]
        out: dict[str, Any] = {}
        for key, kind, spec in self.parts:
            if kind == "constant":
                out[key] = spec
            elif kind == "nodes":
                out[key] = [spec(row, page) for row in rows]
            elif kind == "edges":
                out[key] = [spec(row, c, page) for row, c in zip(rows, cursors, strict=True)]
            else:
                values = {
                    "__typename": "PageInfo",
                    "hasNextPage": comments.has_next,
                    "hasPreviousPage": comments.has_previous,
                    "startCursor": cursors[0] if cursors else None,
                    "endCursor": cursors[-1] if cursors else None,
                }
                out[key] = {k: values[name] for k, name in spec}
        return out


def _comments(writer: CommentsWriter) -> Getter:
    def comments(row: Row, page: FeedPage) -> dict[str, Any]:
        return writer.write(page)

    return comments


class _DetailCompiler(_Compiler):
    """``schema.compiled``'s compiler, with the fields only the root object of a detail plan
    reaches: ``replyTo`` and ``comments`` (and the comments' authors)."""

    def __init__(
        self,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Variable],
        types: dict[str, str],
    ) -> None:
        super().__init__(fragments)
        self.variables, self.types = variables, types
        self.depth = 0  # 1: the fields of the root object
        self.reply_to = False
        self.comments: CommentsWriter | None = None
        self.comment_arguments: dict[str, Any] = {}
        self.comment_authors = False

    def object(self, nodes: list[FieldNode], type_name: str) -> ObjectWriter:
        self.depth += 1
        try:
            return super().object(nodes, type_name)
        finally:
            self.depth -= 1

    def field(self, type_name: str, name: str, how: How | None, nodes: list[FieldNode]) -> Field:
        if isinstance(how, ReplyTo) and self.depth == 1 and not self.reply_to:
            self.reply_to = True
            self.columns["Post"].add("reply_to_id")
            return _reply_to(self.object(nodes, "Post"))
        if isinstance(how, Comments) and self.depth == 1 and self.comments is None:
            self.comment_arguments = self._comment_arguments(nodes)
            self.comments = self.connection_of_comments(nodes)
            return _comments(self.comments)
        if isinstance(how, Related) and type_name == "Comment":
            self.comment_authors = True
            return _related(how.column, self.object(nodes, how.type_name))
        return super().field(type_name, name, how, nodes)

    def _comment_arguments(self, nodes: list[FieldNode]) -> dict[str, Any]:
        expected = {"first": "Int", "after": "String"}
        found: dict[str, Any] = {}
        for argument in nodes[0].arguments or ():  # validation made each node ask the same
            name = argument.name.value
            if name not in expected:
                raise Unsupported(f"argument {name}")
            found[name] = _source(argument.value, self.variables, self.types, expected[name])
        return found

    def connection_of_comments(self, nodes: list[FieldNode]) -> CommentsWriter:
        parts: list[tuple[str, str, Any]] = []
        known = {"__typename", "hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}
        for key, field_nodes in self.fields(nodes, "CommentConnection").items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name == "__typename":
                parts.append((key, "constant", "CommentConnection"))
            elif name == "nodes":
                parts.append((key, "nodes", self.object(field_nodes, "Comment")))
            elif name == "edges":
                parts.append((key, "edges", self.comment_edge(field_nodes)))
            elif name == "pageInfo":
                info: list[tuple[str, str]] = []
                for info_key, info_nodes in self.fields(field_nodes, "PageInfo").items():
                    _no_arguments(info_nodes)
                    if _name(info_nodes) not in known:
                        raise Unsupported(f"PageInfo.{_name(info_nodes)}")
                    info.append((info_key, _name(info_nodes)))
                parts.append((key, "pageInfo", info))
            else:
                raise Unsupported(f"CommentConnection.{name}")
        return CommentsWriter(parts)

    def comment_edge(self, nodes: list[FieldNode]) -> Any:
        """A function of (comment row, its cursor, page)."""
        fields: list[tuple[str, Field]] = []
        for key, field_nodes in self.fields(nodes, "CommentEdge").items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name == "__typename":
                fields.append((key, _constant("CommentEdge")))
            elif name == "cursor":
                fields.append((key, "cursor"))
            elif name == "node":
                fields.append((key, self.object(field_nodes, "Comment")))
            else:
                raise Unsupported(f"CommentEdge.{name}")
        return make_writer(fields, "row, cursor, page")


# --- plans -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DetailPlan:
    """One compiled query operation: ``post(id:)`` or ``artwork(id:)`` (and maybe
    ``__typename``) at the root."""

    operation_name: str | None
    root: list[tuple[str, str]]  # (response key, "__typename" or the root field)
    type_name: str  # "Post" or "Artwork"
    id_source: Any  # a literal or a Variable
    comment_arguments: dict[str, Any]  # "first", "after" -> literal value or Variable
    posts: PostReader | None
    artworks: ArtworkReader | None
    comments: CommentReader | None
    media: MediaReader
    writer: ObjectWriter
    replica: bool
    # the cost the production limit measures (schema.budget): at no comment, and per comment
    cost_base: int
    cost_per_item: int
    # the mentioned members' columns, when the selection shows mentions (resolvers.mentions)
    mentions: tuple[str, ...] | None = None

    def object_id(self, variables: dict[str, Any]) -> int:
        value = value_of(self.id_source, variables)
        if type(value) is not str:
            raise Fallback("input", "id")
        try:
            return decode_id(value, "id", self.type_name)
        except InputError:
            raise Fallback("input", "id") from None

    def comment_page(self, variables: dict[str, Any]) -> tuple[int, str | None]:
        """``(page size, after)`` of the comments; ``Fallback`` for what the regular path
        refuses."""
        return page_arguments(self.comment_arguments, variables)

    async def execute(
        self,
        viewer_id: int | None,
        variables: dict[str, Any],
        media_url: Callable[[str, ImageRef], str],
        max_cost: int | None = None,
    ) -> dict[str, Any]:
        """The response's ``data`` (see ``schema.compiled.Plan.execute``)."""
        object_id = self.object_id(variables)
        size, after, after_id = 0, None, None
        if self.comments is not None:
            size, after = self.comment_page(variables)
            try:
                after_id = decode_cursor("comment", after)[0] if after is not None else None
            except BadRequest:
                raise Fallback("input", "cursor") from None
        if max_cost is not None and self.cost_base + size * self.cost_per_item > max_cost:
            raise Fallback("input", "cost")
        page: FeedPage | None
        row: Row | None = None
        if self.posts is not None:
            page = await self.posts.read_post(viewer_id, object_id)
            row = next((post for post in page.posts if post["id"] == object_id), None)
        else:
            page = await cast("ArtworkReader", self.artworks).read_artwork(viewer_id, object_id)
            row = None if page is None else page.attachments[object_id][0]
        value = None
        if page is not None and row is not None:
            if self.comments is not None:
                comments = await self.comments.read(viewer_id, object_id, size, after_id)
                comments.has_previous = after is not None
                for user_id, user in comments.users.items():
                    page.users.setdefault(user_id, user)
                page.followed |= comments.followed
                page.comments = comments
            if self.mentions is not None:
                await read_mentions(page, self.mentions)
            if self.media:
                page.media = await self.media.read(page, media_url)
            value = self.writer(row, page)
        return {key: "Query" if name == "__typename" else value for key, name in self.root}


def compile_detail(
    document: DocumentNode,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    roots: dict[str, list[FieldNode]],
) -> DetailPlan:
    """The plan of an operation whose one root field (besides ``__typename``) is ``post`` or
    ``artwork``; ``Unsupported`` when a plan cannot cover it."""
    variables, types = _variables(operation)
    ((root_nodes),) = [nodes for nodes in roots.values() if _name(nodes) != "__typename"]
    type_name = ROOTS[_name(root_nodes)]
    id_source: Any = _ABSENT
    for argument in root_nodes[0].arguments or ():
        if argument.name.value != "id":
            raise Unsupported(f"argument {argument.name.value}")
        id_source = _source(argument.value, variables, types, "ID")
    if id_source is _ABSENT:
        raise Unsupported("no id")
    compiler = _DetailCompiler(fragments, variables, types)
    writer = compiler.object(root_nodes, type_name)
    sources = [id_source, *compiler.comment_arguments.values()]
    used = {source.name for source in sources if isinstance(source, Variable)}
    if set(variables) - used:
        raise Unsupported("a variable the plan does not use")  # it must still coerce
    needs = compiler.needs()
    reads = compiler.reads
    comments = None
    if compiler.comments is not None:
        comments = CommentReader(
            "post_id" if type_name == "Post" else "artwork_id",
            frozenset(compiler.columns["Comment"]),
            frozenset(compiler.columns["User"]) if compiler.comment_authors else None,
            follows="follows" in reads,
        )
    posts = artworks = None
    if type_name == "Post":
        posts = PostReader(needs, reply_to=compiler.reply_to)
    else:
        artworks = ArtworkReader(
            frozenset(compiler.columns["Artwork"]),
            frozenset(compiler.columns["User"]),
            follows="follows" in reads,
        )
    first = compiler.comment_arguments.get("first")
    if isinstance(first, Variable):
        at = [
            measure_operation(schema._schema, document, operation, {first.name: n}).cost
            for n in (0, 1)
        ]
        cost_base, cost_per_item = at[0], at[1] - at[0]
    else:
        cost_base, cost_per_item = measure_operation(schema._schema, document, operation).cost, 0
    operation_name = operation.name.value if operation.name else None
    return DetailPlan(
        operation_name=operation_name,
        root=[(key, _name(nodes)) for key, nodes in roots.items()],
        type_name=type_name,
        id_source=id_source,
        comment_arguments=compiler.comment_arguments,
        posts=posts,
        artworks=artworks,
        comments=comments,
        media=compiler.media_reader(),
        mentions=compiler.mention_columns(),
        writer=writer,
        replica=only_replica_fields(document, operation_name),
        cost_base=cost_base,
        cost_per_item=cost_per_item,
    )
