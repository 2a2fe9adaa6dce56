"""application/graphql-response+json: its media type and the specification's status codes."""

from __future__ import annotations

import httpx
import pytest
from starlette.datastructures import Headers

from server.graphql_http import GRAPHQL_RESPONSE, accepts_graphql_response
from tests.graphql import GraphQLClient


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/graphql-response+json", True),
        ("application/graphql-response+json, application/json;q=0.9", True),
        ("application/json, application/graphql-response+json", True),
        ("application/json", False),
        ("application/graphql-response+json;q=0.5, application/json", False),
        ("application/graphql-response+json;q=0", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_accept_negotiation(accept: str, expected: bool) -> None:
    assert accepts_graphql_response(Headers({"accept": accept})) is expected


async def _post(gql: GraphQLClient, body: object, accept: str) -> httpx.Response:
    return await gql.http.post("/graphql", json=body, headers={"Accept": accept})


async def test_a_parse_failure_is_400_without_data(gql: GraphQLClient) -> None:
    response = await _post(gql, {"query": "{"}, GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert [e["message"] for e in body["errors"]] == ["Syntax Error: Expected Name, found <EOF>."]


async def test_a_validation_failure_is_400_without_data(gql: GraphQLClient) -> None:
    response = await _post(gql, {"query": "{ nope }"}, GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert "data" not in response.json()


async def test_a_variable_coercion_failure_is_400(gql: GraphQLClient) -> None:
    response = await _post(
        gql,
        {"query": "query($h: String!) { user(handle: $h) { id } }", "variables": {"h": 3}},
        GRAPHQL_RESPONSE,
    )
    assert response.status_code == 400
    assert "data" not in response.json()


async def test_a_field_error_is_200_with_data(gql: GraphQLClient) -> None:
    # an execution error is a GraphQL result, not a request error
    response = await _post(
        gql, {"query": "{ discoverFeed(first: 1000) { nodes { id } } }"}, GRAPHQL_RESPONSE
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_a_success_has_the_media_type(gql: GraphQLClient) -> None:
    response = await _post(gql, {"query": "{ __typename }"}, GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_plain_json_keeps_200_and_data(gql: GraphQLClient) -> None:
    response = await _post(gql, {"query": "{"}, "application/json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["data"] is None
