"""Compiled plans: a known feed query answered without executing GraphQL field by field.

A home-feed page through graphql-core resolves about 400 fields one at a time, each through
Strawberry's resolver machinery, on model instances the ORM builds from SQL it renders per query.
For the documents clients send over and over (a feed page), this module compiles the document once
into a plan: which rows and columns the selection needs (``resolvers.feedsql``: one hand-written
statement for a page) and a function, generated for the selection, from those rows to each
object of the response. Executing the plan reads the rows and builds the response's ``data``
directly.

A plan covers ``homeFeed``, ``discoverFeed``, ``tagFeed`` and ``search`` (its ``kind`` written out:
``resolvers.search`` finds the page's ids, which are then read as a feed's posts, people or
attached artworks are) with the fields of ``Post``, its ``author`` and its attached ``artworks``
(and their images), or of ``User`` or ``Artwork``, that their tables in ``schema.fields`` say how
to answer (columns, counts, viewer flags, images), with aliases, fragments and ``__typename``. A
document whose one root field is ``post(id:)`` or ``artwork(id:)`` is compiled by
``schema.plan_detail`` with the same writers (``replyTo`` and a page of ``comments`` besides), and
one whose root is ``user(handle:)`` by ``schema.plan_user`` (the person and one of their
connections); ``schema.planner`` sends each document to its root's compiler. Anything else (a field
not covered, directives, other root fields, variables of other types) compiles to nothing, and the
document keeps the regular path. At run time, any input the regular path would answer with an error
(``first`` out of range, a foreign cursor, an anonymous home feed, a tag it refuses, a page over
the cost limit, a variable that does not coerce) raises ``Fallback`` before any SQL runs, and the
regular path answers it, so errors are reported in one place only.

The server compiles a document only after the regular path executed it without an error (so it
parsed, validated and passed the production limits and the persisted-query rules); see
``schema.plans``, which answers a request from a plan under the regular path's rules. The
differential tests (``tests/schema/test_compiled.py``) hold the two paths to identical answers.
"""

from __future__ import annotations

from base64 import urlsafe_b64encode
from binascii import b2a_base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from graphql import (
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    InlineFragmentNode,
    IntValueNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    TypeNode,
    ValueNode,
    VariableNode,
    get_operation_ast,
)

from resolvers import counts, search
from resolvers.consent import effective_policy, policy_without_artist
from resolvers.errors import BadRequest
from resolvers.feedsql import FeedPage, Needs, PageReader, read_mentions
from resolvers.mentions import linked
from resolvers.pagemedia import IMAGE, Kind, MediaReader
from resolvers.pagination import decode_cursor, page_size
from resolvers.search import SearchKind
from resolvers.surrogates import ImageRef
from resolvers.validation import normalize_tags
from schema.budget import measure_operation
from schema.fields import (
    REGISTRY,
    VIEWER_FLAGS,
    Attached,
    Avatar,
    Column,
    Comments,
    Count,
    Flag,
    GlobalId,
    How,
    Images,
    MediaUrl,
    Mentions,
    Page,
    PolicyInForce,
    Related,
    Replies,
    Variants,
)
from schema.media import ImageFormat, MediaSize
from schema.root import schema
from schema.routing import only_replica_fields
from storage.rawsql import Row

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # GraphQL's Int


class Unsupported(Exception):
    """The document uses something a plan does not cover: it keeps the regular path."""


FallbackReason = Literal["input", "anonymous", "vanished"]


class Fallback(Exception):
    """This request needs the regular path: it would answer with an error (``input``: an
    argument or variable the regular path refuses or converts; ``anonymous``: a home feed
    without a viewer), or a row went away between two statements (``vanished``)."""

    def __init__(self, reason: FallbackReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: FallbackReason = reason


_ABSENT = object()

# --- arguments and variables ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    scalar: type  # int or str
    non_null: bool
    default: Any  # _ABSENT when the definition has none

    def value(self, variables: dict[str, Any]) -> Any:
        """The coerced value, ``_ABSENT`` when not provided; ``Fallback`` when it does not
        coerce exactly (the regular path then reports or converts it)."""
        if self.name not in variables:
            if self.default is not _ABSENT:
                return self.default
            if self.non_null:
                raise Fallback("input", self.name)
            return _ABSENT
        raw = variables[self.name]
        if raw is None:
            if self.non_null:
                raise Fallback("input", self.name)
            return None
        if self.scalar is int:
            if type(raw) is not int or not INT_MIN <= raw <= INT_MAX:
                raise Fallback("input", self.name)
        elif type(raw) is not str:
            raise Fallback("input", self.name)
        return raw


def _scalar_of(type_node: TypeNode) -> tuple[type, bool]:
    non_null = isinstance(type_node, NonNullTypeNode)
    named = type_node.type if isinstance(type_node, NonNullTypeNode) else type_node
    if isinstance(named, ListTypeNode) or not isinstance(named, NamedTypeNode):
        raise Unsupported("list variable")
    scalars = {"Int": int, "String": str}
    if named.name.value not in scalars:
        raise Unsupported(f"variable of type {named.name.value}")
    return scalars[named.name.value], non_null


def _literal(node: ValueNode) -> Any:
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode):
        return node.value
    raise Unsupported(f"argument value {node.kind}")


def _variables(operation: OperationDefinitionNode) -> dict[str, Variable]:
    found: dict[str, Variable] = {}
    for definition in operation.variable_definitions or ():
        if definition.directives:
            raise Unsupported("directive on a variable")
        scalar, non_null = _scalar_of(definition.type)
        default = (
            _literal(definition.default_value) if definition.default_value is not None else _ABSENT
        )
        name = definition.variable.name.value
        found[name] = Variable(name, scalar, non_null, default)
    return found


# --- collecting fields ---------------------------------------------------------------------

NODE_TYPES = frozenset({"User", "Artwork", "Post", "Comment", "MediaAsset"})


def field_arguments(
    nodes: list[FieldNode],
    variables: dict[str, Variable],
    known: dict[str, type],
    *,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Each argument of the field (but those in ``skip``) as its literal value or its
    ``Variable``, which must be of the argument's own scalar type; ``Unsupported`` for an
    argument not in ``known``."""
    found: dict[str, Any] = {}
    for argument in nodes[0].arguments or ():
        name = argument.name.value
        if name in skip:
            continue
        if name not in known:
            raise Unsupported(f"argument {name}")
        if isinstance(argument.value, VariableNode):
            variable = variables.get(argument.value.name.value)
            if variable is None or variable.scalar is not known[name]:
                raise Unsupported(f"variable for {name}")
            found[name] = variable
        else:
            found[name] = _literal(argument.value)
    return found


def value_of(source: Any, variables: dict[str, Any]) -> Any:
    """An argument's value: its literal, or its variable's (``_ABSENT`` when not sent)."""
    return source.value(variables) if isinstance(source, Variable) else source


def page_arguments(
    arguments: dict[str, Any], variables: dict[str, Any], *, default_first: int = 20
) -> tuple[int, str | None]:
    """``(page size, after)`` of a connection from its ``first`` and ``after`` arguments
    (literals or ``Variable``), with the schema's default page size (20 for every connection
    today); ``Fallback`` for anything the regular path must refuse."""
    values: dict[str, Any] = {"first": default_first, "after": None}
    for name in ("first", "after"):
        if name in arguments and (value := value_of(arguments[name], variables)) is not _ABSENT:
            values[name] = value
    first, after = values["first"], values["after"]
    if first is not None and type(first) is not int:
        raise Fallback("input", "first")
    if after is not None and type(after) is not str:
        raise Fallback("input", "after")
    try:
        return page_size(first), after
    except BadRequest:
        raise Fallback("input", "first") from None


def _applies(condition: str | None, type_name: str) -> bool:
    if condition is None or condition == type_name:
        return True
    return condition == "Node" and type_name in NODE_TYPES


def collect(
    selection_sets: Sequence[SelectionSetNode],
    type_name: str,
    fragments: dict[str, FragmentDefinitionNode],
) -> dict[str, list[FieldNode]]:
    """The fields selected on ``type_name``, by response key in order (as GraphQL's
    CollectFields: fragments that apply are inlined, same-key fields are merged)."""
    fields: dict[str, list[FieldNode]] = {}
    # As CollectFields: a fragment spread a second time adds nothing, so each is walked once
    # (a document of fragments that spread each other twice stays linear in its length).
    visited: set[str] = set()

    def walk(selection_set: SelectionSetNode, path: frozenset[str]) -> None:
        for selection in selection_set.selections:
            if selection.directives:
                raise Unsupported("directive")
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if _applies(condition.name.value if condition else None, type_name):
                    walk(selection.selection_set, path)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in path:
                    raise Unsupported(f"fragment {name}")
                if fragment.directives:
                    raise Unsupported("directive")
                if name in visited:
                    continue
                visited.add(name)
                if _applies(fragment.type_condition.name.value, type_name):
                    walk(fragment.selection_set, path | {name})

    for selection_set in selection_sets:
        walk(selection_set, frozenset())
    return fields


def _name(nodes: list[FieldNode]) -> str:
    return nodes[0].name.value


def _sub(nodes: list[FieldNode]) -> list[SelectionSetNode]:
    sets = [node.selection_set for node in nodes if node.selection_set is not None]
    if not sets:
        raise Unsupported("object field without a selection")
    return sets


def _no_arguments(nodes: list[FieldNode]) -> None:
    if any(node.arguments for node in nodes):
        raise Unsupported(f"arguments on {_name(nodes)}")


# --- writers: selected fields to JSON values -------------------------------------------------
#
# A field is either a Python expression over ``row`` (the object's row) and ``page`` (the
# FeedPage), or a function of both. ``make_writer`` turns an object's fields into one function
# whose body is a single dict display, so a page costs one call per object, not one per field.
# The expressions are made here from fixed templates and the tables' own column names; response
# keys are GraphQL names (``[_A-Za-z][_0-9A-Za-z]*``, checked by the parser) written with repr.

Getter = Callable[[Row, FeedPage], Any]
Field = str | Getter
ObjectWriter = Callable[[Row, FeedPage], dict[str, Any]]


def _global_id_of(prefix: bytes, pk: int) -> str:
    """``schema.base.to_global_id`` for a ``prefix`` of ``b"<Type>:"``."""
    return b2a_base64(prefix + b"%d" % pk, newline=False).decode()


def _cursor_of(post_id: int) -> str:
    """``encode_cursor("post", post_id)``."""
    return urlsafe_b64encode(b"post:%d" % post_id).rstrip(b"=").decode()


def make_writer(fields: list[tuple[str, Field]], arguments: str = "row, page") -> Any:
    """One function of ``arguments`` returning the object of ``fields`` (in their order)."""
    namespace: dict[str, Any] = {"_global_id_of": _global_id_of}
    items = []
    for n, (key, field_spec) in enumerate(fields):
        if not key.isidentifier():  # a GraphQL name always is; anything else is a bug
            raise ValueError(f"not a response key: {key!r}")
        if isinstance(field_spec, str):
            expression = field_spec
        else:
            namespace[f"_f{n}"] = field_spec
            expression = f"_f{n}(row, page)"
        items.append(f"{key!r}: {expression}")
    source = f"def writer({arguments}):\n    return {{{', '.join(items)}}}\n"
    exec(compile(source, "<compiled plan>", "exec"), namespace)  # noqa: S102 (see above)
    return namespace["writer"]


def _column(column: str) -> str:
    return f"row[{column!r}]"


def _enum_name(column: str) -> str:
    return f"(None if row[{column!r}] is None else row[{column!r}].name)"


def _iso(column: str, *, nullable: bool = False) -> str:
    if nullable:
        return f"(None if row[{column!r}] is None else row[{column!r}].isoformat())"
    return f"row[{column!r}].isoformat()"


def _list(column: str) -> str:
    return f"list(row[{column!r}])"


def _constant(value: str) -> str:
    return repr(value)


def _global_id(type_name: str) -> str:
    return f"_global_id_of({type_name.encode() + b':'!r}, row['id'])"


# The public replies, and of the others those the viewer may see (resolvers.replies).
_REPLY_COUNT = "(row['public_reply_count'] + page.replies_seen.get(row['id'], 0))"


def graphql_field(type_name: str, field_name: str) -> GraphQLField:
    """The field as the schema has it."""
    object_type = schema._schema.type_map[type_name]
    assert isinstance(object_type, GraphQLObjectType), type_name
    return cast("GraphQLField", object_type.fields[field_name])


def _convert(type_name: str, field_name: str, column: str) -> str:
    """The expression of a ``Column`` field, by the field's GraphQL type."""
    field_type = graphql_field(type_name, field_name).type
    nullable = not isinstance(field_type, GraphQLNonNull)
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    if isinstance(field_type, GraphQLList):
        return _list(column)
    if isinstance(field_type, GraphQLEnumType):
        return _enum_name(column)
    if isinstance(field_type, GraphQLScalarType) and field_type.name == "DateTime":
        return _iso(column, nullable=nullable)
    return _column(column)


def column_of(type_name: str, field_name: str) -> str:
    """The column a ``Column`` field shows: as the registry names it, else the Python name of
    the field in the Strawberry type."""
    how = REGISTRY[type_name][field_name]
    assert isinstance(how, Column), (type_name, field_name)
    if how.name is not None:
        return how.name
    definition = graphql_field(type_name, field_name).extensions["strawberry-definition"]
    return cast("str", definition.python_name)


def columns_of(type_name: str) -> frozenset[str]:
    """Every column a plan may read for ``type_name`` (what ``resolvers.feedsql`` may select)."""
    found: set[str] = set()
    for field_name, how in REGISTRY[type_name].items():
        if isinstance(how, Column):
            found.add(column_of(type_name, field_name))
        elif isinstance(how, Count):
            found.update(counts.columns(how.kind))
        elif isinstance(how, PolicyInForce):
            found.add("ai_training_policy")
    return frozenset(found)


# (parent type, foreign key) -> which rows of users the page reads for it (resolvers.feedsql)
_USERS_BY_KEY = {("Post", "author_id"): "authors", ("Artwork", "owner_id"): "owners"}


class _Compiler:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        # "authors", "owners", "attachments", "likes", "follows", "replies", "artwork_likes"
        self.reads: set[str] = set()
        self.columns: dict[str, set[str]] = {name: set() for name in REGISTRY}
        self.media: set[Kind] = set()  # the images the selection shows (resolvers.pagemedia)

    def media_reader(self) -> MediaReader:
        return MediaReader(
            frozenset(self.media),
            frozenset(self.columns["MediaAsset"]),
            artwork_likes="artwork_likes" in self.reads,
        )

    def mention_columns(self) -> tuple[str, ...] | None:
        """The columns of the mentioned members' rows, when the selection shows mentions."""
        return tuple(sorted(self.columns["User"])) if "mentions" in self.reads else None

    def needs(self) -> Needs:
        reads = self.reads
        return Needs(
            post_columns=frozenset(self.columns["Post"]),
            authors="authors" in reads,
            owners="owners" in reads,
            user_columns=frozenset(self.columns["User"]),
            artwork_columns=frozenset(self.columns["Artwork"]) if "attachments" in reads else None,
            likes="likes" in reads,
            follows="follows" in reads,
            replies="replies" in reads,
        )

    def fields(self, nodes: list[FieldNode], type_name: str) -> dict[str, list[FieldNode]]:
        return collect(_sub(nodes), type_name, self.fragments)

    def object(self, nodes: list[FieldNode], type_name: str) -> ObjectWriter:
        """The writer of a ``type_name`` object with the selection of ``nodes``, each field as
        its registry entry (``schema.fields``) says."""
        table = REGISTRY[type_name]
        writer: list[tuple[str, Field]] = []
        for key, field_nodes in self.fields(nodes, type_name).items():
            name = _name(field_nodes)
            how = table.get(name)
            # the fields with arguments a plan reads (``schema.plan_detail`` reads those of a
            # page of comments, ``schema.plan_user`` those of a person's connection; a feed page
            # covers neither)
            if not isinstance(how, MediaUrl | Comments | Page):
                _no_arguments(field_nodes)
            if name == "__typename":
                writer.append((key, _constant(type_name)))
            else:
                writer.append((key, self.field(type_name, name, how, field_nodes)))
        return cast("ObjectWriter", make_writer(writer))

    def field(self, type_name: str, name: str, how: How | None, nodes: list[FieldNode]) -> Field:
        columns = self.columns[type_name]
        if isinstance(how, Column):
            column = column_of(type_name, name)
            columns.add(column)
            return _convert(type_name, name, column)
        if isinstance(how, Replies):
            columns.update(("reply_count", "public_reply_count"))
            self.reads.add("replies")
            return _REPLY_COUNT
        if isinstance(how, GlobalId):
            return _global_id(type_name)
        if isinstance(how, Count):
            columns.update(counts.columns(how.kind))
            self.reads.add("follows")  # followers-only works count for followers
            return _visible_count(how.kind)
        if isinstance(how, Flag):
            flag = VIEWER_FLAGS[how.name]
            if flag.reads is not None:
                self.reads.add(flag.reads)
            return flag.expression
        if isinstance(how, PolicyInForce):
            columns.add("ai_training_policy")
            self.reads.add("owners")
            self.columns["User"].add("ai_training_policy")
            return _policy_in_force
        if isinstance(how, Related) and (type_name, how.column) in _USERS_BY_KEY:
            self.reads.add(_USERS_BY_KEY[(type_name, how.column)])
            return _related(how.column, self.object(nodes, how.type_name))
        if isinstance(how, Attached) and type_name == "Post":
            self.reads.add("attachments")
            # attached artworks seen by followers only need the follow status
            self.reads.add("follows")
            return _attached(self.object(nodes, how.type_name))
        if isinstance(how, Mentions):
            columns.add("text")
            self.reads.add("mentions")
            return _mentions(self.mention(nodes))
        if isinstance(how, Images):
            self.media.add(how.column)
            return _images(how.column, self.object(nodes, "MediaAsset"))
        if isinstance(how, Avatar):
            self.media.add("avatar")
            return _avatar(self.object(nodes, "MediaAsset"))
        if isinstance(how, MediaUrl):
            return _media_url(*_url_arguments(nodes))
        if isinstance(how, Variants):
            return _variants(self.variant(nodes))
        raise Unsupported(f"{type_name}.{name}")

    def mention(self, nodes: list[FieldNode]) -> Any:
        """A function of (the span, the member's row, page). The member's own columns, its id
        and ``isViewer`` are covered: anything else (avatar, counts, follows) keeps the regular
        path, since the page reads those only for the people it shows otherwise."""
        fields: list[tuple[str, Field]] = []
        for key, field_nodes in self.fields(nodes, "Mention").items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name == "__typename":
                fields.append((key, _constant("Mention")))
            elif name in ("handle", "start", "end"):
                fields.append((key, f"span.{name}"))
            elif name == "user":
                for user_nodes in self.fields(field_nodes, "User").values():
                    how = REGISTRY["User"].get(_name(user_nodes))
                    if not isinstance(how, Column | GlobalId) and how != Flag("isViewer"):
                        raise Unsupported(f"Mention.user.{_name(user_nodes)}")
                fields.append((key, self.object(field_nodes, "User")))  # of (row, page)
            else:
                raise Unsupported(f"Mention.{name}")
        return make_writer(fields, "span, row, page")

    def variant(self, nodes: list[FieldNode]) -> list[tuple[str, VariantField]]:
        parts: list[tuple[str, VariantField]] = []
        for key, field_nodes in self.fields(nodes, "MediaVariant").items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name not in _VARIANT_FIELDS:
                raise Unsupported(f"MediaVariant.{name}")
            parts.append((key, _VARIANT_FIELDS[name]))
        return parts

    def connection(
        self, nodes: list[FieldNode], prefix: str = "Post", node: str = "Post"
    ) -> ConnectionWriter:
        """``prefix``: of the connection's and its edges' type names (``PostConnection``, or
        ``SearchResultConnection`` whose nodes are all of the type ``node``)."""
        parts: list[tuple[str, str, Any]] = []
        for key, field_nodes in self.fields(nodes, f"{prefix}Connection").items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name == "__typename":
                parts.append((key, "constant", f"{prefix}Connection"))
            elif name == "nodes":
                parts.append((key, "nodes", self.object(field_nodes, node)))
            elif name == "edges":
                parts.append((key, "edges", self.edge(field_nodes, prefix, node)))
            elif name == "pageInfo":
                parts.append((key, "pageInfo", self.page_info(field_nodes)))
            else:
                raise Unsupported(f"{prefix}Connection.{name}")
        return ConnectionWriter(parts)

    def edge(self, nodes: list[FieldNode], prefix: str = "Post", node: str = "Post") -> Any:
        """A function of (the node's row, its cursor, page)."""
        fields: list[tuple[str, Field]] = []
        for key, field_nodes in self.fields(nodes, f"{prefix}Edge").items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name == "__typename":
                fields.append((key, _constant(f"{prefix}Edge")))
            elif name == "cursor":
                fields.append((key, "cursor"))
            elif name == "node":
                fields.append((key, self.object(field_nodes, node)))
            else:
                raise Unsupported(f"{prefix}Edge.{name}")
        return make_writer(fields, "row, cursor, page")

    def page_info(self, nodes: list[FieldNode]) -> list[tuple[str, str]]:
        parts: list[tuple[str, str]] = []
        known = {"__typename", "hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}
        for key, field_nodes in self.fields(nodes, "PageInfo").items():
            _no_arguments(field_nodes)
            name = _name(field_nodes)
            if name not in known:
                raise Unsupported(f"PageInfo.{name}")
            parts.append((key, name))
        return parts


def _policy_in_force(row: Row, page: FeedPage) -> str:
    policy = policy_without_artist(row["ai_training_policy"])
    if policy is None:
        owner = page.users.get(row["owner_id"])
        if owner is None:
            raise Fallback("vanished", "owner")
        policy = effective_policy(None, owner["ai_training_policy"])
    return policy.name


def _visible_count(kind: counts.Kind) -> Getter:
    def visible_count(row: Row, page: FeedPage) -> int | None:
        follows = row["id"] in page.followed
        return counts.visible(page.viewer_id, row["id"], counts.by_visibility(kind, row), follows)

    return visible_count


def _related(column: str, writer: ObjectWriter) -> Getter:
    def related(row: Row, page: FeedPage) -> dict[str, Any]:
        user = page.users.get(row[column])
        if user is None:  # deleted between two statements: the regular path decides
            raise Fallback("vanished", "user")
        return writer(user, page)

    return related


def _attached(writer: ObjectWriter) -> Getter:
    def attached(row: Row, page: FeedPage) -> list[dict[str, Any]]:
        return [
            writer(artwork, page)
            for artwork in page.attachments.get(row["id"], ())
            if page.can_see(artwork["owner_id"], artwork["visibility"])
        ]

    return attached


def _mentions(writer: Any) -> Getter:
    def mentions(row: Row, page: FeedPage) -> list[dict[str, Any]]:
        return [writer(span, member, page) for span, member in linked(row["text"], page.mentioned)]

    return mentions


def _images(column: Kind, writer: ObjectWriter) -> Getter:
    def images(row: Row, page: FeedPage) -> list[dict[str, Any]]:
        return [writer(image, page) for image in page.media.images[column].get(row["id"], ())]

    return images


def _avatar(writer: ObjectWriter) -> Getter:
    def avatar(row: Row, page: FeedPage) -> dict[str, Any] | None:
        found = page.media.avatars.get(row["id"])
        return None if found is None else writer(found, page)

    return avatar


def _enum_argument(node: ValueNode, enum: Any) -> str:
    if not isinstance(node, EnumValueNode) or node.value not in enum.__members__:
        raise Unsupported(f"argument value {node.kind}")  # a variable: the regular path
    return cast("str", enum[node.value].value)


def _url_arguments(nodes: list[FieldNode]) -> tuple[str, str]:
    """(size, format) as the variants name them, from literal enum arguments (validation made
    every field of one response key ask the same)."""
    size, image_format = MediaSize.DISPLAY.value, ImageFormat.WEBP.value  # the schema's defaults
    for argument in nodes[0].arguments or ():
        if argument.name.value == "size":
            size = _enum_argument(argument.value, MediaSize)
        elif argument.name.value == "format":
            image_format = _enum_argument(argument.value, ImageFormat)
        else:
            raise Unsupported(f"argument {argument.name.value}")
    return size, image_format


def _media_url(size: str, image_format: str) -> Getter:
    """``MediaAsset.url``: the first variant of that size and format, signed; else null."""

    def url(row: Row, page: FeedPage) -> str | None:
        if page.media.withholds(row):  # a sensitive image (resolvers.sensitive)
            return None
        for variant in row["variants"]:
            if variant["size"] == size and variant["format"] == image_format:
                return cast("str", page.media.url(str(variant["key"]), row[IMAGE]))
        return None

    return url


VariantField = Callable[[dict[str, Any], ImageRef, Any], Any]
# MediaVariant's fields from one variant of the row, as schema.media.MediaAsset.variants has them
_VARIANT_FIELDS: dict[str, VariantField] = {
    "__typename": lambda v, image, url: "MediaVariant",
    "size": lambda v, image, url: MediaSize(v["size"]).name,
    "format": lambda v, image, url: ImageFormat(v["format"]).name,
    "contentType": lambda v, image, url: str(v["content_type"]),
    "width": lambda v, image, url: int(str(v["width"])),
    "height": lambda v, image, url: int(str(v["height"])),
    "byteSize": lambda v, image, url: int(str(v["byte_size"])),
    "url": lambda v, image, url: url(str(v["key"]), image),
}


def _variants(parts: list[tuple[str, VariantField]]) -> Getter:
    def variants(row: Row, page: FeedPage) -> list[dict[str, Any]]:
        if page.media.withholds(row):  # a sensitive image (resolvers.sensitive)
            return []
        image, url = row[IMAGE], page.media.url
        return [{key: get(v, image, url) for key, get in parts} for v in row["variants"]]

    return variants


class ConnectionWriter:
    def __init__(self, parts: list[tuple[str, str, Any]]) -> None:
        self.parts = parts

    def write(
        self, page: FeedPage, after: str | None, cursors: list[str] | None = None
    ) -> dict[str, Any]:
        """``cursors``: of the page's posts (a feed's: of their ids)."""
        if cursors is None:
            cursors = [_cursor_of(post["id"]) for post in page.posts]
        out: dict[str, Any] = {}
        for key, kind, spec in self.parts:
            if kind == "constant":
                out[key] = spec
            elif kind == "nodes":
                out[key] = [spec(post, page) for post in page.posts]
            elif kind == "edges":
                out[key] = [
                    spec(post, cursor, page)
                    for post, cursor in zip(page.posts, cursors, strict=True)
                ]
            else:
                out[key] = self._page_info(spec, page, cursors, after)
        return out

    @staticmethod
    def _page_info(
        parts: list[tuple[str, str]], page: FeedPage, cursors: list[str], after: str | None
    ) -> dict[str, Any]:
        values = {
            "__typename": "PageInfo",
            "hasNextPage": page.has_next,
            "hasPreviousPage": after is not None,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        }
        return {key: values[name] for key, name in parts}


# --- plans ---------------------------------------------------------------------------------

FEEDS = {"homeFeed": "home", "discoverFeed": "discover", "tagFeed": "tag"}  # root field -> kind
_FEED_ARGUMENTS = {"first": int, "after": str, "tag": str}
# ``search`` of posts (its ``kind`` written out as POSTS): a page of post ids found by
# ``resolvers.search``, then read as a feed's page is
SEARCH = "search"
_SEARCH_ARGUMENTS = {"first": int, "after": str, "query": str}
# the kinds a plan finds, and their node type
_SEARCH_NODES = {"POSTS": "Post", "USERS": "User", "ARTWORKS": "Artwork"}


@dataclass(frozen=True, slots=True)
class Plan:
    """One compiled query operation: a feed connection (and maybe ``__typename``) at the root."""

    operation_name: str | None
    root: list[tuple[str, str]]  # (response key, "__typename" or the feed field)
    arguments: dict[str, Any]  # argument -> literal value or Variable
    reader: PageReader
    media: MediaReader  # the page's images and artwork likes, when it shows any
    connection: ConnectionWriter
    replica: bool  # its reads may go to a replica (schema.routing.only_replica_fields)
    # The cost the production limit measures (schema.budget), linear in the page size: the
    # fields at size 0, and those each post adds.
    cost_base: int
    cost_per_item: int
    search: SearchKind | None = None  # what a search plan finds (posts or members)
    # the mentioned members' columns, when the selection shows mentions (resolvers.mentions)
    mentions: tuple[str, ...] | None = None

    def arguments_of(self, variables: dict[str, Any]) -> tuple[int, str | None]:
        """``(page size, after)``; ``Fallback`` for anything the regular path must refuse."""
        return page_arguments(self.arguments, variables)

    def tag_of(self, variables: dict[str, Any]) -> str:
        """``tagFeed``'s tag, normalized as the regular path does; ``Fallback`` when that
        path refuses it."""
        source = self.arguments.get("tag")
        value = source.value(variables) if isinstance(source, Variable) else source
        if type(value) is not str:
            raise Fallback("input", "tag")
        normalized, error = normalize_tags("tag", [value])
        if error is not None or not normalized:
            raise Fallback("input", "tag")
        return normalized[0]

    async def execute(
        self,
        viewer_id: int | None,
        variables: dict[str, Any],
        media_url: Callable[[str, ImageRef], str],
        max_cost: int | None = None,
    ) -> dict[str, Any]:
        """The response's ``data``; ``media_url`` signs image URLs (``Services.media_url``).
        ``max_cost``: the production cost limit; a page that may cost more falls back, and the
        regular path refuses it (``QUERY_TOO_COSTLY``)."""
        size, after = self.arguments_of(variables)
        tag = self.tag_of(variables) if self.reader.tag else None
        if max_cost is not None and self.cost_base + size * self.cost_per_item > max_cost:
            raise Fallback("input", "cost")
        if self.search is not None:
            return await self._search(self.search, viewer_id, variables, size, after, media_url)
        if self.reader.home and viewer_id is None:
            raise Fallback("anonymous")
        try:
            after_id = decode_cursor("post", after)[0] if after is not None else None
        except BadRequest:
            raise Fallback("input", "cursor") from None
        page = await self.reader.read(viewer_id, size, after_id, tag)
        if self.mentions is not None:
            await read_mentions(page, self.mentions)
        if self.media:
            page.media = await self.media.read(page, media_url)
        data: dict[str, Any] = {}
        for key, name in self.root:
            data[key] = "Query" if name == "__typename" else self.connection.write(page, after)
        return data

    async def _search(
        self,
        kind: SearchKind,
        viewer_id: int | None,
        variables: dict[str, Any],
        size: int,
        after: str | None,
        media_url: Callable[[str, ImageRef], str],
    ) -> dict[str, Any]:
        source = self.arguments.get("query")
        text = source.value(variables) if isinstance(source, Variable) else source
        if type(text) is not str:
            raise Fallback("input", "query")
        try:
            found = await search.search(viewer_id, text, kind, first=size, after=after)
        except BadRequest:
            raise Fallback("input", "search") from None
        if kind is SearchKind.USERS:
            page = await self.reader.read_users(viewer_id, found.items)
        elif kind is SearchKind.ARTWORKS:
            page = await self.reader.read_artworks(viewer_id, found.items)
        else:
            page = await self.reader.read_ids(viewer_id, found.items)
        if len(page.posts) != len(found.items):
            raise Fallback("vanished", kind.value)
        page.has_next = found.has_next
        if self.mentions is not None:
            await read_mentions(page, self.mentions)
        if self.media:
            page.media = await self.media.read(page, media_url)
        data: dict[str, Any] = {}
        for key, name in self.root:
            if name == "__typename":
                data[key] = "Query"
            else:
                data[key] = self.connection.write(page, after, found.cursors)
        return data


class CompiledPlan(Protocol):
    """What ``schema.plans`` runs: a feed or search ``Plan``, a plan of one object by id
    (``schema.plan_detail``) or of one person (``schema.plan_user``)."""

    @property
    def operation_name(self) -> str | None: ...

    @property
    def replica(self) -> bool: ...

    async def execute(
        self,
        viewer_id: int | None,
        variables: dict[str, Any],
        media_url: Callable[[str, ImageRef], str],
        max_cost: int | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class RootSelection:
    """A document's query operation, its fragments and its root fields by response key."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    roots: dict[str, list[FieldNode]]

    def root_field(self) -> str | None:
        """The one root field besides ``__typename`` (None: none, or more than one)."""
        named = [_name(nodes) for nodes in self.roots.values() if _name(nodes) != "__typename"]
        return named[0] if len(named) == 1 else None


def root_selection(document: DocumentNode, operation_name: str | None) -> RootSelection:
    """The operation a plan may answer; ``Unsupported`` for anything but a query without
    directives."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        raise Unsupported("not a query")
    if operation.directives:
        raise Unsupported("directive")
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    roots = collect([operation.selection_set], "Query", fragments)
    return RootSelection(operation, fragments, roots)


def compile_feed(document: DocumentNode, query: RootSelection, operation_name: str | None) -> Plan:
    """The plan of a feed page (``homeFeed``, ``discoverFeed``, ``tagFeed``)."""
    operation, fragments, roots = query.operation, query.fragments, query.roots
    variables = _variables(operation)
    feeds = [(key, nodes) for key, nodes in roots.items() if _name(nodes) != "__typename"]
    if len(feeds) != 1 or _name(feeds[0][1]) not in (*FEEDS, SEARCH):
        raise Unsupported("root fields")
    feed_nodes = feeds[0][1]
    searching = _name(feed_nodes) == SEARCH
    kind = "search" if searching else FEEDS[_name(feed_nodes)]
    allowed = _SEARCH_ARGUMENTS if searching else _FEED_ARGUMENTS
    found: SearchKind | None = None
    for argument in feed_nodes[0].arguments or ():
        if searching and argument.name.value == "kind":
            value = argument.value
            if not isinstance(value, EnumValueNode) or value.value not in _SEARCH_NODES:
                raise Unsupported("a search of a kind not written out")
            found = SearchKind[value.value]
    known = {name: t for name, t in allowed.items() if name != "tag" or kind == "tag"}
    arguments = field_arguments(
        feed_nodes, variables, known, skip=frozenset({"kind"} if searching else ())
    )
    used = {v.name for v in arguments.values() if isinstance(v, Variable)}
    if set(variables) - used:
        raise Unsupported("a variable the feed does not use")  # it must still coerce
    if searching and ("query" not in arguments or found is None):
        raise Unsupported("a search without its query or kind")  # the regular path refuses it
    compiler = _Compiler(fragments)
    if found is not None:
        node = _SEARCH_NODES[found.name]
        connection = compiler.connection(feed_nodes, "SearchResult", node)
        if found is SearchKind.ARTWORKS:
            compiler.reads.add("attachments")  # the artworks' columns (resolvers.feedsql)
    else:
        connection = compiler.connection(feed_nodes)
    first = arguments.get("first")
    if isinstance(first, Variable):
        at = [
            measure_operation(schema._schema, document, operation, {first.name: n}).cost
            for n in (0, 1)
        ]
        cost_base, cost_per_item = at[0], at[1] - at[0]
    else:  # a literal page size, or the argument's default: one cost whatever the request
        cost_base, cost_per_item = measure_operation(schema._schema, document, operation).cost, 0
    return Plan(
        operation_name=operation.name.value if operation.name else None,
        root=[(key, _name(nodes)) for key, nodes in roots.items()],
        arguments=arguments,
        reader=PageReader(compiler.needs(), home=kind == "home", tag=kind == "tag", ids=searching),
        media=compiler.media_reader(),
        mentions=compiler.mention_columns(),
        connection=connection,
        replica=only_replica_fields(document, operation_name),
        cost_base=cost_base,
        cost_per_item=cost_per_item,
        search=found,
    )
