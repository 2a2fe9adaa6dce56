"""The field registry (schema.fields): every field of a compiled type is decided there, and what it
decides is what the compiled plans and the live sharing do."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType, get_named_type

from schema.compiled import column_of
from schema.fields import (
    REGISTRY,
    VIEWER_FLAGS,
    Attached,
    Avatar,
    Column,
    Comments,
    Flag,
    Images,
    Mentions,
    NotCovered,
    Page,
    Related,
    ReplyTo,
    Variants,
    shareable,
)
from schema.planner import compile_plan
from schema.root import schema
from schema.sharing import SHAREABLE
from storage import models
from storage.models import PRIVATE_COLUMNS, public_columns

MODELS = {
    "Post": models.Post,
    "User": models.User,
    "Artwork": models.Artwork,
    "MediaAsset": models.MediaAsset,
    "Comment": models.Comment,
}
FIELDS = [(type_name, field) for type_name, table in REGISTRY.items() for field in table]


def _object(type_name: str) -> GraphQLObjectType:
    found = schema._schema.type_map[type_name]
    assert isinstance(found, GraphQLObjectType)
    return found


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_every_field_of_a_compiled_type_is_decided(type_name: str) -> None:
    # a field added to the type must get an entry: a column, a count, a flag, or not covered
    # with a reason; and an entry must name a field that exists
    in_schema = set(_object(type_name).fields)
    decided = set(REGISTRY[type_name])
    assert in_schema - decided == set(), f"{type_name}: decide these in schema/fields.py"
    assert decided - in_schema == set(), f"{type_name}: no such fields"


@pytest.mark.parametrize(("type_name", "field"), FIELDS)
def test_each_entry_fits_its_field(type_name: str, field: str) -> None:
    how = REGISTRY[type_name][field]
    graphql_type = get_named_type(_object(type_name).fields[field].type)
    if isinstance(how, Column):
        # a column a feed may read (never a private one), shown as a leaf value
        assert column_of(type_name, field) in public_columns(MODELS[type_name])
        assert column_of(type_name, field) not in PRIVATE_COLUMNS
        assert not isinstance(graphql_type, GraphQLObjectType)
    elif isinstance(how, Related | Attached):
        assert graphql_type.name == how.type_name
    elif isinstance(how, Images | Avatar):
        assert graphql_type.name == "MediaAsset"
    elif isinstance(how, Variants):
        assert graphql_type.name == "MediaVariant"
    elif isinstance(how, Flag):
        assert how.name in VIEWER_FLAGS
    elif isinstance(how, ReplyTo):
        assert graphql_type.name == "Post"
    elif isinstance(how, Comments):
        assert graphql_type.name == "CommentConnection"
    elif isinstance(how, Mentions):
        assert graphql_type.name == "Mention"
    elif isinstance(how, NotCovered):
        assert how.reason
    elif isinstance(how, Page):
        assert type_name == "User"
        assert graphql_type.name.endswith("Connection")


def _selection(type_name: str, depth: int = 0) -> str:
    """Every field a plan answers on ``type_name``, and on the objects it reaches."""
    parts = []
    for field, how in REGISTRY[type_name].items():
        if isinstance(how, Related | Attached):
            if depth < 2:
                parts.append(f"{field} {{ {_selection(how.type_name, depth + 1)} }}")
        elif isinstance(how, Images | Avatar):
            parts.append(f"{field} {{ {_selection('MediaAsset', depth + 1)} }}")
        elif isinstance(how, Variants):
            parts.append(f"{field} {{ size format contentType width height byteSize url }}")
        elif isinstance(how, Mentions):
            parts.append(f"{field} {{ __typename handle start end user {{ id handle isViewer }} }}")
        elif isinstance(how, ReplyTo | Comments):
            pass  # the root object of a post or artwork by id only: see below
        elif not isinstance(how, NotCovered | Page):
            parts.append(field)
    return " ".join(parts)


def test_a_plan_answers_every_covered_field() -> None:
    query = f"{{ homeFeed {{ edges {{ node {{ {_selection('Post')} }} }} }} }}"
    assert compile_plan(query, None) is not None, query


@pytest.mark.parametrize("root", ["post", "artwork"])
def test_a_detail_plan_answers_every_covered_field(root: str) -> None:
    type_name = root.capitalize()
    comments = f"comments {{ edges {{ cursor node {{ {_selection('Comment')} }} }} }}"
    reply_to = f"replyTo {{ {_selection('Post')} }}" if root == "post" else ""
    query = f'{{ {root}(id: "UG9zdDox") {{ {_selection(type_name)} {reply_to} {comments} }} }}'
    assert compile_plan(query, None) is not None, query


def _reaching(type_name: str, selection: str) -> str:
    """A document selecting ``selection`` on an object of ``type_name`` that a plan reads."""
    if type_name == "Comment":
        return f'{{ post(id: "UG9zdDox") {{ comments {{ nodes {{ {selection} }} }} }} }}'
    before, after = {
        "Post": ("", ""),
        "User": ("author { ", " }"),
        "Artwork": ("artworks { ", " }"),
        "MediaAsset": ("images { ", " }"),
    }[type_name]
    return f"{{ homeFeed {{ edges {{ node {{ {before}{selection}{after} }} }} }} }}"


@pytest.mark.parametrize(
    ("type_name", "field"),
    [(t, f) for t, f in FIELDS if isinstance(REGISTRY[t][f], NotCovered | Page)],
)
def test_a_field_not_covered_keeps_the_regular_path(type_name: str, field: str) -> None:
    selection = _object(type_name).fields[field]
    inner = (
        " { __typename }" if isinstance(get_named_type(selection.type), GraphQLObjectType) else ""
    )
    query = _reaching(type_name, f"{field}{inner}")
    assert compile_plan(query, None) is None, query


def test_the_live_sharing_follows_the_registry() -> None:
    compiled_types = {(t, f) for t, f in SHAREABLE if t in REGISTRY}
    assert compiled_types == shareable()
    # what differs per viewer within a share class is never shared
    assert ("Artwork", "viewerHasLiked") not in SHAREABLE
    assert ("Post", "replyTo") not in SHAREABLE


async def test_public_columns_are_the_tables_own_once_models_are_set_up(database: str) -> None:
    # Tortoise adds reverse relations and each foreign key's column to fields_map at set-up
    for model in MODELS.values():
        columns = public_columns(model)
        assert len(columns) == len(set(columns)), columns
        assert set(columns) <= set(model._meta.db_fields), columns


@pytest.mark.parametrize(
    ("type_name", "field"),
    [(t, f) for t, f in FIELDS if isinstance(REGISTRY[t][f], ReplyTo | Comments)],
)
def test_a_detail_field_keeps_the_regular_path_in_a_feed(type_name: str, field: str) -> None:
    # replyTo and comments are answered for the root object of a post or artwork by id only
    query = _reaching(type_name, f"{field} {{ __typename }}")
    assert compile_plan(query, None) is None, query
