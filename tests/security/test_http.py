"""Production over HTTP: no mutations or queries over GET, no batches, no forged uploads, capped
bodies, and no server detail in an unexpected error."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from resolvers import accounts
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION

SIGN_UP = (
    'mutation { signUp(input: {handle: "mallory", email: "m@example.com", '
    'password: "correct horse"}) { user { id } errors { code } } }'
)


async def test_a_mutation_over_get_is_refused(prod: GraphQLClient) -> None:
    # when a mutation arrives as a GET (a link or an <img> on another site)
    response = await prod.http.get("/graphql", params={"query": SIGN_UP})
    # then it is refused and nothing is created
    assert response.status_code == 400
    assert response.text == "mutations are not allowed when using GET"
    count = await prod.execute('{ user(handle: "mallory") { id } }')
    assert count.data == {"user": None}


async def test_a_mutation_over_get_is_refused_in_development(gql: GraphQLClient) -> None:
    response = await gql.http.get("/graphql", params={"query": SIGN_UP})
    assert response.status_code == 400


async def test_a_query_over_get_is_refused_in_production(prod: GraphQLClient) -> None:
    response = await prod.http.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 400
    assert response.text == "queries are not allowed when using GET"


async def test_a_query_over_get_answers_in_development(gql: GraphQLClient) -> None:
    response = await gql.http.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
async def test_a_mutation_a_plain_html_form_can_send_is_refused(
    prod: GraphQLClient, content_type: str
) -> None:
    # when another site's form posts a mutation (the content types a form sends without a CORS
    # preflight)
    body = f"query={SIGN_UP}" if content_type != "text/plain" else json.dumps({"query": SIGN_UP})
    response = await prod.http.post(
        "/graphql", content=body.encode(), headers={"Content-Type": content_type}
    )
    # then it is refused and nothing is created
    assert response.status_code in (400, 415)
    count = await prod.execute('{ user(handle: "mallory") { id } }')
    assert count.data == {"user": None}


async def test_no_tracing_or_server_detail_in_responses(prod: GraphQLClient) -> None:
    # when a client asks for tracing and sends documents that do not parse or validate
    documents = ("{ __typename }", "qwerty", "{ __typename @aa }", "{ user(handle: 1) { id } }")
    for document in documents:
        response = await prod.http.post(
            "/graphql",
            json={"query": document, "extensions": {"tracing": True}},
        )
        body = response.json()
        # then no tracing extension and no traceback or exception detail comes back
        assert "tracing" not in (body.get("extensions") or {}), document
        assert "Traceback" not in response.text, document
        assert "exception" not in response.text.lower(), document


async def test_a_batched_request_is_refused(prod: GraphQLClient) -> None:
    # when a client sends many operations in one request (rate limits count requests)
    batch = [{"query": "{ __typename }"}] * 3
    response = await prod.http.post("/graphql", json=batch)
    # then the whole request is refused
    assert response.status_code == 400
    assert response.text == "Batching is not enabled"


UPLOAD = "mutation($f: Upload!) { setAvatar(file: $f) { user { id } errors { code } } }"


async def test_a_multipart_upload_without_the_csrf_header_is_refused(prod: GraphQLClient) -> None:
    # given a signed-in artist
    await prod.sign_up("victim")
    # when a multipart request arrives without the preflight header (as a forged form would)
    result = await prod.upload(
        UPLOAD,
        {"f": None},
        {"f": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")},
        as_="victim",
        preflight=False,
    )
    # then it is refused before anything reads it
    assert result.status == 400
    assert result.codes == ["CSRF_PREFLIGHT_REQUIRED"]


async def test_a_body_over_the_cap_is_refused(prod: GraphQLClient) -> None:
    # when a JSON body is larger than GESSO_MAX_BODY_BYTES (1 MiB by default)
    padding = "#" * (1024 * 1024)
    body = json.dumps({"query": "{ __typename }\n" + padding})
    response = await prod.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    # then it is refused with 413 and a clear error
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": "the request body is larger than the limit of 1048576 bytes",
                "extensions": {"code": "REQUEST_TOO_LARGE"},
            }
        ]
    }


async def test_a_streamed_body_over_the_cap_is_refused(clean_db: str) -> None:
    # given a small cap
    async with GraphQLClient.for_app(**PRODUCTION, GESSO_MAX_BODY_BYTES="2048") as client:
        # when the body comes in chunks, with no Content-Length to refuse up front
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"query": "{ __typename }", "variables": {"x": "'
            for _ in range(10):
                yield b"x" * 512
            yield b'"}}'

        response = await client.http.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )
        # then it is cut off at the cap
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"] == {"code": "REQUEST_TOO_LARGE"}


async def test_a_body_under_the_cap_runs(prod: GraphQLClient) -> None:
    body = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 500_000}})
    response = await prod.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


SECRET = "password=hunter2 host=db-7.internal"


async def _explode(handle: str) -> None:
    raise RuntimeError(SECRET)


async def test_an_exception_message_never_reaches_the_client(
    prod: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given a resolver that fails with a message full of server detail
    monkeypatch.setattr(accounts, "find_by_handle", _explode)
    # when a client runs it
    with caplog.at_level(logging.ERROR, logger="gesso.errors"):
        result = await prod.execute('{ user(handle: "ada") { id } }')
    # then the client sees a stable message, a code and an error id, nothing of the detail
    assert result.status == 200
    assert result.body["data"] == {"user": None}
    [error] = result.errors
    assert SECRET not in json.dumps(result.body)
    assert error["message"] == "Unexpected error."
    assert error["path"] == ["user"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    assert len(error_id) == 16
    # and the operator finds the original under that id
    logged = [r for r in caplog.records if r.name == "gesso.errors"]
    assert len(logged) == 1
    assert error_id in logged[0].getMessage()
    assert SECRET in logged[0].getMessage()


async def test_expected_errors_keep_their_message_and_code_in_production(
    prod: GraphQLClient,
) -> None:
    # an authorization failure is expected: its message and code are for the client
    result = await prod.execute('mutation { createPost(input: {text: "hi"}) { errors { code } } }')
    assert result.codes == ["UNAUTHENTICATED"]
    assert result.errors[0]["message"] != "Unexpected error."
    # and so is a bad argument
    bad = await prod.execute("{ discoverFeed(first: 1000) { nodes { id } } }")
    assert bad.codes == ["BAD_USER_INPUT"]
    assert bad.errors[0]["message"] != "Unexpected error."


async def test_an_exception_message_reaches_the_developer_in_development(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "find_by_handle", _explode)
    result = await gql.execute('{ user(handle: "ada") { id } }')
    assert [e["message"] for e in result.errors] == [SECRET]


@pytest.mark.parametrize("login", ["a" * 31, "a" * 254, "b" * 31 + "@example.com"])
async def test_a_login_longer_than_any_account_is_wrong_credentials(
    prod: GraphQLClient, login: str
) -> None:
    # when someone signs in with a handle or email longer than any stored one
    result = await prod.execute(
        "mutation($i: LogInInput!) { logIn(input: $i) { token errors { code } } }",
        {"i": {"login": login, "password": "correct horse"}},
    )
    # then it is the same answer as for any unknown account, not an unexpected error
    assert result.data == {"logIn": {"token": None, "errors": [{"code": "INVALID_CREDENTIALS"}]}}
