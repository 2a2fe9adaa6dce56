"""Automatic persisted queries (Apollo's protocol) and the allowlist, over HTTP in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.persisted import create_persisted_queries
from server.settings import SettingsError, read_settings
from storage.persisted import RegisteredOperation, sha256_of, write_manifest
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION

QUERY = "{ __typename }"
HASH = sha256_of(QUERY)


def _persisted(sha256: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


async def _post(client: GraphQLClient, body: dict[str, Any]) -> httpx.Response:
    return await client.http.post("/graphql", json=body)


async def test_an_unknown_hash_asks_for_the_text(gql: GraphQLClient) -> None:
    response = await _post(gql, {"extensions": _persisted(HASH)})
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ],
    }


async def test_the_text_once_then_the_hash_alone(gql: GraphQLClient) -> None:
    # given a client that sent the text with its hash once
    first = await _post(gql, {"query": QUERY, "extensions": _persisted(HASH)})
    assert first.json() == {"data": {"__typename": "Query"}}
    # when it later sends only the hash
    again = await _post(gql, {"extensions": _persisted(HASH)})
    # then the server runs the remembered text
    assert again.json() == {"data": {"__typename": "Query"}}


async def test_variables_and_operation_name_apply_to_a_remembered_text(gql: GraphQLClient) -> None:
    query = "query Find($h: String!) { user(handle: $h) { handle } }"
    await gql.sign_up("pia")
    body = {"query": query, "variables": {"h": "pia"}, "operationName": "Find"}
    await _post(gql, {**body, "extensions": _persisted(sha256_of(query))})
    again = await _post(
        gql,
        {
            "variables": {"h": "PIA"},
            "operationName": "Find",
            "extensions": _persisted(sha256_of(query)),
        },
    )
    assert again.json() == {"data": {"user": {"handle": "pia"}}}


async def test_a_hash_that_does_not_match_the_text_is_refused(gql: GraphQLClient) -> None:
    response = await _post(gql, {"query": QUERY, "extensions": _persisted("0" * 64)})
    assert response.json()["errors"] == [
        {
            "message": "provided sha does not match query",
            "extensions": {"code": "PERSISTED_QUERY_INVALID"},
        }
    ]
    # and nothing was remembered under the wrong hash
    lookup = await _post(gql, {"extensions": _persisted("0" * 64)})
    assert [e["extensions"]["code"] for e in lookup.json()["errors"]] == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]


async def test_an_invalid_document_is_not_remembered(gql: GraphQLClient) -> None:
    query = "{ nope }"
    sent = await _post(gql, {"query": query, "extensions": _persisted(sha256_of(query))})
    assert sent.json()["errors"][0]["message"].startswith("Cannot query field 'nope'")
    lookup = await _post(gql, {"extensions": _persisted(sha256_of(query))})
    assert lookup.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_malformed_persisted_query_is_refused(gql: GraphQLClient) -> None:
    for bad in (
        {"version": 2, "sha256Hash": HASH},
        {"version": 1, "sha256Hash": "xyz"},
        {"version": 1, "sha256Hash": HASH.upper()},
        {"version": 1},
        "a string",
    ):
        response = await _post(gql, {"extensions": {"persistedQuery": bad}})
        assert response.status_code == 200
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == [
            "PERSISTED_QUERY_INVALID"
        ], bad


async def test_persisted_queries_can_be_turned_off(clean_db: str) -> None:
    async with GraphQLClient.for_app(GESSO_PERSISTED_QUERIES="off") as client:
        response = await _post(client, {"query": QUERY, "extensions": _persisted(HASH)})
        assert response.json()["errors"][0]["extensions"]["code"] == (
            "PERSISTED_QUERY_NOT_SUPPORTED"
        )
        plain = await _post(client, {"query": QUERY})
        assert plain.json() == {"data": {"__typename": "Query"}}


def _manifest(tmp_path: Path, *queries: str) -> Path:
    path = tmp_path / "persisted-queries.json"
    write_manifest(path, {sha256_of(q): RegisteredOperation(None, q) for q in queries})
    return path


async def test_the_allowlist_runs_registered_operations_only(clean_db: str, tmp_path: Path) -> None:
    # given a production server that runs registered operations only
    registered = "query Who { viewer { handle } }"
    manifest = _manifest(tmp_path, registered)
    async with GraphQLClient.for_app(
        **PRODUCTION,
        GESSO_PERSISTED_QUERIES="allowlist",
        GESSO_PERSISTED_QUERIES_FILE=str(manifest),
    ) as client:
        # when a registered operation arrives by hash, or by its exact text
        by_hash = await _post(client, {"extensions": _persisted(sha256_of(registered))})
        by_text = await _post(client, {"query": registered})
        # then it runs
        assert by_hash.json() == {"data": {"viewer": None}}
        assert by_text.json() == {"data": {"viewer": None}}
        # and anything else is refused before it is parsed
        other = await _post(client, {"query": QUERY})
        assert other.json()["errors"] == [
            {
                "message": "only registered operations run on this server",
                "extensions": {"code": "PERSISTED_QUERY_NOT_ALLOWED"},
            }
        ]
        # and a client cannot register one itself
        sneaked = await _post(client, {"query": QUERY, "extensions": _persisted(HASH)})
        assert sneaked.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        unknown = await _post(client, {"extensions": _persisted(HASH)})
        assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_the_allowlist_needs_a_manifest(tmp_path: Path) -> None:
    settings = read_settings(
        {
            "GESSO_PERSISTED_QUERIES": "allowlist",
            "GESSO_PERSISTED_QUERIES_FILE": str(tmp_path / "missing.json"),
        },
        env_file=tmp_path / ".env",
    )
    with pytest.raises(SettingsError, match=r"needs registered operations in .*missing\.json"):
        create_persisted_queries(settings)


def test_a_tampered_manifest_is_refused(tmp_path: Path) -> None:
    path = _manifest(tmp_path, QUERY)
    data = json.loads(path.read_text())
    data["operations"][HASH]["query"] = "{ viewer { email } }"
    path.write_text(json.dumps(data))
    settings = read_settings(
        {"GESSO_PERSISTED_QUERIES_FILE": str(path)}, env_file=tmp_path / ".env"
    )
    with pytest.raises(SettingsError, match="does not match its text"):
        create_persisted_queries(settings)


def test_both_schemas_still_execute_synchronously() -> None:
    # persisted queries are resolved around async execution; synchronous execution (which
    # Strawberry itself uses, e.g. for introspection) must keep working on both schemas
    from schema.production import hardened_schema
    from schema.root import schema

    assert schema.execute_sync("{ __typename }").data == {"__typename": "Query"}
    assert hardened_schema(30).execute_sync("{ __typename }").data == {"__typename": "Query"}


async def test_the_allowlist_holds_for_compiled_plans(clean_db: str, tmp_path: Path) -> None:
    # given a production allowlist server with one registered feed document
    registered = "query Feed { discoverFeed(first: 5) { edges { cursor node { id text } } } }"
    other = "query Other { discoverFeed(first: 5) { edges { cursor } } }"
    async with GraphQLClient.for_app(
        **PRODUCTION,
        GESSO_PERSISTED_QUERIES="allowlist",
        GESSO_PERSISTED_QUERIES_FILE=str(_manifest(tmp_path, registered)),
    ) as client:
        plans = client.app.state.graphql.plans
        # when each is sent three times as text
        for _ in range(3):
            ran = await _post(client, {"query": registered})
            refused = await _post(client, {"query": other})
            # then the registered one answers (from its plan after the first time)
            assert ran.json() == {"data": {"discoverFeed": {"edges": []}}}
            # and the other is refused every time: a plan never stands in for the allowlist
            assert (
                refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
            )
        assert plans.served == 2
