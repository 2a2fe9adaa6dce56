"""Production refuses hostile documents: introspection, alias, directive and depth bombs, guessing
field names by their suggestions, oversized documents."""

from __future__ import annotations

import pytest
from graphql import parse, validate
from strawberry.extensions.query_depth_limiter import create_validator

from schema.root import schema
from tests.graphql import GraphQLClient


def _messages(body: dict[str, object]) -> list[str]:
    errors = body.get("errors")
    assert isinstance(errors, list)
    return [str(e["message"]) for e in errors]


async def test_introspection_is_refused_in_production(prod: GraphQLClient) -> None:
    # when a client asks for the schema
    result = await prod.execute("{ __schema { types { name } } }")
    # then it is refused before execution
    assert result.body.get("data") is None
    assert _messages(result.body) == [
        "GraphQL introspection has been disabled, but the requested query contained the "
        f"field '{name}'."
        for name in ("__schema", "types")
    ]


async def test_type_introspection_is_refused_in_production(prod: GraphQLClient) -> None:
    result = await prod.execute('{ __type(name: "User") { fields { name } } }')
    assert _messages(result.body) == [
        "GraphQL introspection has been disabled, but the requested query contained the "
        f"field '{name}'."
        for name in ("__type", "fields")
    ]


async def test_typename_still_answers_in_production(prod: GraphQLClient) -> None:
    result = await prod.execute("{ __typename }")
    assert result.data == {"__typename": "Query"}


async def test_introspection_answers_in_development(gql: GraphQLClient) -> None:
    result = await gql.execute("{ __schema { queryType { name } } }")
    assert result.data == {"__schema": {"queryType": {"name": "Query"}}}


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{n}: __typename" for n in range(count)) + " }"


async def test_a_hundred_aliases_are_allowed(prod: GraphQLClient) -> None:
    result = await prod.execute(_aliases(100))
    assert len(result.data) == 100


async def test_a_hundred_and_one_aliases_are_refused(prod: GraphQLClient) -> None:
    result = await prod.execute(_aliases(101))
    assert result.body.get("data") is None
    assert _messages(result.body) == ["101 aliases found. Allowed: 100"]


def _directives(count: int) -> str:
    return "{ " + " ".join(f"f{n}: __typename @skip(if: false)" for n in range(count)) + " }"


async def test_twenty_directives_are_allowed(prod: GraphQLClient) -> None:
    result = await prod.execute(_directives(20))
    assert len(result.data) == 20


async def test_directive_overloading_is_refused(prod: GraphQLClient) -> None:
    # when a document repeats directives far beyond any real need
    result = await prod.execute(_directives(21))
    # then it is refused with the cap in the message
    assert _messages(result.body) == ["21 directives found. Allowed: 20"]
    assert result.codes == ["TOO_MANY_DIRECTIVES"]


def _followers(hops: int) -> str:
    """``user { followers { nodes { followers { ... edges { node { handle } } } } } } }``."""
    inner = "followers(first: 2) { edges { node { handle } } }"
    for _ in range(hops):
        inner = f"followers(first: 2) {{ nodes {{ {inner} }} }}"
    return f'{{ user(handle: "ada") {{ {inner} }} }}'


def _depth(document: str) -> int:
    """The depth Strawberry's ``QueryDepthLimiter`` measures."""
    measured: dict[str, int] = {}
    validate(schema._schema, parse(document), [create_validator(1000, None, measured.update)])
    return measured["anonymous"]


async def test_followers_of_followers_twelve_deep_is_refused(prod: GraphQLClient) -> None:
    # given a followers-of-followers document 12 levels deep
    deep = _followers(4)
    assert _depth(deep) == 12
    # when it is sent
    result = await prod.execute(deep)
    # then it is refused for its depth before anything runs
    assert result.body.get("data") is None
    assert _messages(result.body) == ["'anonymous' exceeds maximum operation depth of 10"]


async def test_followers_of_followers_ten_deep_runs(prod: GraphQLClient) -> None:
    document = _followers(3)
    assert _depth(document) == 10
    result = await prod.execute(document)
    assert result.data == {"user": None}


async def test_depth_is_not_limited_in_development(gql: GraphQLClient) -> None:
    result = await gql.execute(_followers(4))
    assert result.data == {"user": None}


async def test_no_field_suggestions_in_production(prod: GraphQLClient) -> None:
    # when a client guesses a field name close to a real one
    result = await prod.execute("{ viewr { handl } }")
    # then the error does not name the real one
    assert _messages(result.body) == ["Cannot query field 'viewr' on type 'Query'."]


async def test_no_enum_suggestions_in_variables_in_production(prod: GraphQLClient) -> None:
    await prod.sign_up("vera")
    result = await prod.execute(
        'mutation($v: Visibility!) { createPost(input: {text: "hi", visibility: $v})'
        " { errors { code } } }",
        {"v": "PUBLICK"},
        as_="vera",
    )
    assert len(result.errors) == 1
    assert "Did you mean" not in result.errors[0]["message"]
    assert "PUBLIC" not in result.errors[0]["message"].replace("PUBLICK", "")


async def test_field_suggestions_remain_in_development(gql: GraphQLClient) -> None:
    result = await gql.execute("{ viewr { handl } }")
    assert _messages(result.body) == [
        "Cannot query field 'viewr' on type 'Query'. Did you mean 'viewer' or 'user'?"
    ]


async def test_a_document_over_the_token_limit_is_refused(prod: GraphQLClient) -> None:
    result = await prod.execute("{ " + "__typename " * 2001 + "}")
    assert _messages(result.body) == [
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    ]


@pytest.mark.parametrize("count", [1, 2])
async def test_limits_hold_on_every_repeat_of_a_cached_document(
    prod: GraphQLClient, count: int
) -> None:
    # the validation cache must never turn a refused document into an accepted one
    for _ in range(count):
        result = await prod.execute(_aliases(101))
        assert _messages(result.body) == ["101 aliases found. Allowed: 100"]
