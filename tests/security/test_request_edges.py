"""Requests at the edges of what the endpoint reads: bodies that are not UTF-8 or nest JSON without
end, content types that only look like JSON, forged cursors past their columns' range, and
documents whose operation the request does not select. Each is refused with a typed error, the
same way on the regular path, on a compiled plan's path and on websockets, in development and in
production."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from resolvers.pagination import encode_cursor
from schema.plans import Plans
from schema.requestbody import MAX_DEPTH
from tests.e2e.live import LiveServer, Subscriber
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
PREFLIGHT = {"GraphQL-Preflight": "1"}

DEEP = b"[" * 100_000 + b"]" * 100_000
JUST_TOO_DEEP = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
NOT_UTF8 = b"\xff\xfe"

# A feed document the server compiles into a plan (schema.compiled) once it has answered it.
FEED = (
    "query Feed($first: Int) { discoverFeed(first: $first) "
    "{ edges { cursor node { id text } } pageInfo { hasNextPage } } }"
)


@pytest.fixture(params=["development", "production"])
async def client(request: pytest.FixtureRequest, clean_db: str) -> AsyncIterator[GraphQLClient]:
    environ = PRODUCTION if request.param == "production" else {}
    async with GraphQLClient.for_app(**environ) as gql:
        yield gql


def _body(variables: bytes, query: str = "{ __typename }") -> bytes:
    return b'{"query": ' + json.dumps(query).encode() + b', "variables": ' + variables + b"}"


async def _post(
    gql: GraphQLClient, body: bytes, content_type: str = JSON, accept: str = JSON
) -> httpx.Response:
    headers = {"Content-Type": content_type, "Accept": accept}
    return await gql.http.post("/graphql", content=body, headers=headers)


def _code(response: httpx.Response) -> str:
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    return str(errors[0]["extensions"]["code"])


async def _planned(gql: GraphQLClient) -> Plans:
    """The app's plans, once FEED has been answered by one."""
    plans: Plans = gql.app.state.graphql.plans
    for _ in range(2):
        response = await _post(gql, _body(b'{"first": 5}', FEED))
        assert response.status_code == 200
        assert "errors" not in response.json()
    assert plans.served == 1
    return plans


# --- 5. bodies that are not UTF-8, or nest JSON without end ---------------------------------

BAD_BODIES = {
    "not-utf8": b'{"query": "{ __typename }", "x": "' + NOT_UTF8 + b'"}',
    "deep-document": DEEP,
    "deep-variables": _body(b'{"a": ' + DEEP + b"}"),
    "just-too-deep-variables": _body(b'{"a": ' + JUST_TOO_DEEP + b"}"),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_a_body_that_is_not_utf8_or_nests_without_end_is_400(
    client: GraphQLClient, body: bytes, accept: str
) -> None:
    response = await _post(client, body, accept=accept)
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON
    assert _code(response) == "INVALID_JSON"


async def test_json_nested_up_to_the_limit_is_read(client: GraphQLClient) -> None:
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    # the body's own object is a level, and so is the variables object
    response = await _post(client, _body(b'{"a": ' + nested[2:-2] + b"}"))
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


PLAN_BODIES = {
    "not-utf8": _body(b'{"first": 5, "x": "' + NOT_UTF8 + b'"}', FEED),
    "deep-variables": _body(b'{"first": 5, "x": ' + DEEP + b"}", FEED),
    "just-too-deep-variables": _body(b'{"first": 5, "x": ' + JUST_TOO_DEEP + b"}", FEED),
}


@pytest.mark.parametrize("body", PLAN_BODIES.values(), ids=PLAN_BODIES.keys())
async def test_a_bad_body_for_a_compiled_document_is_400_too(
    client: GraphQLClient, body: bytes
) -> None:
    # given a feed document the server answers from a compiled plan
    plans = await _planned(client)
    # when its body is not UTF-8, or nests without end
    response = await _post(client, body)
    # then it is refused as on the regular path, and no plan answers it
    assert response.status_code == 400
    assert _code(response) == "INVALID_JSON"
    assert plans.served == 1


MUTATION = "mutation($f: Upload!) { identifyImage(file: $f) { found } }"


@pytest.mark.parametrize(
    "fields",
    [
        {"operations": _body(b'{"f": null, "a": ' + DEEP + b"}", MUTATION)},
        {"operations": JUST_TOO_DEEP},
        {"map": b'{"0": ' + DEEP + b"}"},
    ],
    ids=["deep-operations", "too-deep-operations", "deep-map"],
)
async def test_multipart_fields_that_nest_without_end_are_400(
    client: GraphQLClient, fields: dict[str, bytes]
) -> None:
    parts = {
        "operations": _body(b'{"f": null}', MUTATION),
        "map": b'{"0": ["variables.f"]}',
        **fields,
    }
    response = await client.http.post(
        "/graphql",
        files={
            **{name: (None, value) for name, value in parts.items()},
            "0": ("a.png", b"not an image", "image/png"),
        },
        headers=PREFLIGHT,
    )
    assert response.status_code == 400
    assert _code(response) == "INVALID_JSON"


async def test_query_parameters_that_nest_without_end_are_400(gql: GraphQLClient) -> None:
    # development serves queries over GET: their variables are JSON too
    params = {"query": "{ __typename }", "variables": '{"a": ' + JUST_TOO_DEEP.decode() + "}"}
    response = await gql.http.get("/graphql", params=params)
    assert response.status_code == 400
    assert _code(response) == "INVALID_JSON"


# --- 10. one content-type rule for the regular path and the compiled plans ------------------

NOT_JSON = [
    "text/plain; charset=application/json",
    "application/jsonp",
    "application/json-patch+json",
    "application/x-json",
    "application/json; charset=latin-1",
]


@pytest.mark.parametrize("content_type", NOT_JSON)
async def test_a_content_type_that_only_looks_like_json_is_refused(
    client: GraphQLClient, content_type: str
) -> None:
    response = await _post(client, _body(b"{}"), content_type)
    assert response.status_code == 415
    assert _code(response) == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize("content_type", NOT_JSON)
async def test_a_compiled_plan_refuses_the_same_content_types(
    client: GraphQLClient, content_type: str
) -> None:
    # given a feed document the server answers from a compiled plan
    plans = await _planned(client)
    # when the same document comes with a content type that only looks like JSON
    response = await _post(client, _body(b'{"first": 5}', FEED), content_type)
    # then the plan does not answer it: it is refused as on the regular path
    assert response.status_code == 415
    assert _code(response) == "UNSUPPORTED_MEDIA_TYPE"
    assert plans.served == 1


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]
)
async def test_json_with_a_utf8_charset_is_read_by_both_paths(
    client: GraphQLClient, content_type: str
) -> None:
    plans = await _planned(client)
    response = await _post(client, _body(b'{"first": 5}', FEED), content_type)
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert plans.served == 2


# --- 6. forged cursors past their columns' range --------------------------------------------

POST_ID = 1 << 40
OUT_OF_RANGE = {
    "post-id-past-64-bits": ("post", (1 << 63,)),
    "post-id-negative": ("post", (-1,)),
    "post-id-zero": ("post", (0,)),
    "portfolio-position-past-32-bits": ("portfolio", (1 << 31, POST_ID)),
    "portfolio-position-under-32-bits": ("portfolio", (-(1 << 31) - 1, POST_ID)),
    "portfolio-id-past-64-bits": ("portfolio", (0, 1 << 63)),
    "portfolio-id-negative": ("portfolio", (0, -5)),
    "follow-id-past-64-bits": ("follow", (1 << 63,)),
    "follow-id-negative": ("follow", (-1,)),
    "comment-id-past-64-bits": ("comment", (1 << 63,)),
    "comment-id-negative": ("comment", (-1,)),
}

# Every connection that takes a cursor, by the kind of cursor it issues.
CONNECTIONS = {
    "post": [
        "query($a: String) { discoverFeed(after: $a) { edges { cursor } } }",
        "query($a: String) { homeFeed(after: $a) { edges { cursor } } }",
        'query($a: String) { tagFeed(tag: "ink", after: $a) { edges { cursor } } }',
        'query($a: String) { user(handle: "cursa") { posts(after: $a) { edges { cursor } } } }',
    ],
    "portfolio": [
        'query($a: String) { user(handle: "cursa") { portfolio(after: $a) { edges { cursor } } } }'
    ],
    "follow": [
        'query($a: String) { user(handle: "cursa") { followers(after: $a) { edges { cursor } } } }',
        'query($a: String) { user(handle: "cursa") { following(after: $a) { edges { cursor } } } }',
    ],
    "comment": [
        "query($a: String, $p: ID!) { post(id: $p) { comments(after: $a) { edges { cursor } } } }"
    ],
}


@pytest.mark.parametrize(("kind", "key"), OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
async def test_a_cursor_out_of_its_columns_range_is_bad_user_input(
    client: GraphQLClient, kind: str, key: tuple[int, ...]
) -> None:
    # given an artist with a post (the comments of which are a connection too)
    await client.sign_up("cursa")
    client.token = client.token_of("cursa")
    posted = await client.execute(
        'mutation { createPost(input: {text: "#ink"}) { post { id } errors { code } } }'
    )
    post_id = posted.data["createPost"]["post"]["id"]
    # when each connection of that kind gets a forged cursor with a key no row can hold
    for query in CONNECTIONS[kind]:
        variables: dict[str, Any] = {"a": encode_cursor(kind, *key), "p": post_id}
        if "$p" not in query:
            del variables["p"]
        result = await client.execute(query, variables)
        # then it is refused as a cursor we never issued, on SQLite and PostgreSQL alike
        assert result.codes == ["BAD_USER_INPUT"], (query, result.body)
        assert "unknown cursor" in result.errors[0]["message"]


# --- 14. the operation a request selects ----------------------------------------------------

TWO_OPERATIONS = "query A { __typename } query B { viewer { id } }"
SIGN_UP = (
    'mutation SignUp { signUp(input: {handle: "mallory", email: "m@example.com", '
    'password: "correct horse"}) { user { id } errors { code } } }'
)
MUST_NAME = "Must provide operation name if query contains multiple operations."
UNSELECTED = {
    "several-and-no-name": ({"query": TWO_OPERATIONS}, MUST_NAME),
    "mutation-first-and-no-name": (
        {"query": SIGN_UP + " query B { __typename }"},
        MUST_NAME,
    ),
    "a-name-of-none": (
        {"query": TWO_OPERATIONS, "operationName": "C"},
        "Unknown operation named 'C'.",
    ),
    "a-name-for-an-anonymous-operation": (
        {"query": "{ __typename }", "operationName": "C"},
        "Unknown operation named 'C'.",
    ),
}


@pytest.mark.parametrize(("body", "message"), UNSELECTED.values(), ids=UNSELECTED.keys())
async def test_a_request_that_selects_no_operation_is_a_request_error(
    client: GraphQLClient, body: dict[str, Any], message: str
) -> None:
    # when a request names no operation of a document with several, or one it does not have
    graphql_response = await client.http.post(
        "/graphql", json=body, headers={"Accept": GRAPHQL_RESPONSE}
    )
    plain = await client.http.post("/graphql", json=body, headers={"Accept": JSON})
    # then no operation runs: a request error, 400 without data for graphql-response+json...
    assert graphql_response.status_code == 400
    assert graphql_response.headers["content-type"] == GRAPHQL_RESPONSE
    assert graphql_response.json() == {"errors": [{"message": message}]}
    # ... and 200 with null data for plain JSON
    assert plain.status_code == 200
    assert plain.json() == {"data": None, "errors": [{"message": message}]}
    created = await client.execute('{ user(handle: "mallory") { id } }')
    assert created.data == {"user": None}


@pytest.mark.parametrize("name", [{"obj": "ect"}, 0, False, ["A"]], ids=str)
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_an_operation_name_that_is_not_a_string_is_400(
    client: GraphQLClient, name: object, accept: str
) -> None:
    body = {"query": TWO_OPERATIONS, "operationName": name}
    response = await client.http.post("/graphql", json=body, headers={"Accept": accept})
    assert response.status_code == 400
    assert _code(response) == "BAD_REQUEST"


async def test_the_named_operation_of_several_runs(client: GraphQLClient) -> None:
    result = await client.http.post(
        "/graphql", json={"query": TWO_OPERATIONS, "operationName": "B"}
    )
    assert result.json() == {"data": {"viewer": None}}


async def test_a_compiled_plan_answers_only_the_operation_it_was_compiled_for(
    client: GraphQLClient,
) -> None:
    # given a document of two operations whose feed operation is answered by a plan
    document = FEED + " query Other { __typename }"
    plans: Plans = client.app.state.graphql.plans
    body: dict[str, Any] = {"query": document, "operationName": "Feed", "variables": {"first": 5}}
    for _ in range(2):
        response = await client.http.post("/graphql", json=body)
        assert "errors" not in response.json()
    assert plans.served == 1
    # when the same document comes without an operation name, or with one it does not have
    for name, message in ((None, MUST_NAME), ("Nope", "Unknown operation named 'Nope'.")):
        body["operationName"] = name
        response = await client.http.post(
            "/graphql", json=body, headers={"Accept": GRAPHQL_RESPONSE}
        )
        # then it is the same request error, and the plan does not answer
        assert response.status_code == 400
        assert response.json() == {"errors": [{"message": message}]}
    assert plans.served == 1


# --- the same over websockets, on a real server ---------------------------------------------

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
# graphql-transport-ws closes with its "bad request" code; the legacy handler with 1002, as it
# does for a binary message; a text frame that is not UTF-8 is the websocket protocol's own 1007.
UNREADABLE = {"graphql-transport-ws": 4400, "graphql-ws": 1002}
NOT_UTF8_FRAME = 1007


@pytest.fixture(scope="module", params=["development", "production"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    environ = PRODUCTION if request.param == "production" else {}
    server = LiveServer(tmp_path_factory.mktemp(request.param), dict(environ)).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


_handles = itertools.count()


async def _subscriber(live: LiveServer, protocol: str) -> Subscriber:
    """A new artist, signed in on a new socket."""
    async with GraphQLClient.for_url(live.url) as gql:
        handle = f"socket{next(_handles)}"
        await gql.sign_up(handle)
        token = gql.token_of(handle)
    subscriber = await Subscriber.open(live.ws_url, token, protocol=protocol)
    await subscriber.acknowledged()
    return subscriber


def _start(protocol: str, op_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    return {"id": op_id, "type": kind, "payload": payload}


async def _closed_with(subscriber: Subscriber) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        await subscriber.drain(within=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def _still_serving(live: LiveServer) -> None:
    """The server answers, and logged no traceback: a client's bad message is no server fault."""
    async with GraphQLClient.for_url(live.url) as gql:
        assert (await gql.execute("{ __typename }")).data == {"__typename": "Query"}
    assert "Traceback" not in live.log()


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("nested", [DEEP, JUST_TOO_DEEP], ids=["deep", "just-too-deep"])
async def test_a_message_that_nests_without_end_closes_the_socket(
    live: LiveServer, protocol: str, nested: bytes
) -> None:
    subscriber = await _subscriber(live, protocol)
    # when a message's variables nest without end
    payload = {"query": "subscription { notifications { kind } }", "variables": {"a": 0}}
    text = json.dumps(_start(protocol, "1", payload)).replace(
        '{"a": 0}', '{"a": ' + nested.decode() + "}"
    )
    await subscriber.ws.send(text)
    # then the socket is closed with the protocol's error code, and the server serves on
    assert await _closed_with(subscriber) == UNREADABLE[protocol]
    await _still_serving(live)


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("as_text", [True, False], ids=["text-frame", "binary-frame"])
async def test_a_message_that_is_not_utf8_closes_the_socket(
    live: LiveServer, protocol: str, as_text: bool
) -> None:
    subscriber = await _subscriber(live, protocol)
    # when a message's bytes are not UTF-8
    message = json.dumps(_start(protocol, "1", {"query": "?"})).encode().replace(b"?", NOT_UTF8)
    await subscriber.ws.send(message, text=as_text)
    # then the socket is closed with a protocol error code, and the server serves on
    expected = NOT_UTF8_FRAME if as_text else UNREADABLE[protocol]
    assert await _closed_with(subscriber) == expected
    await _still_serving(live)


WS_UNSELECTED = {
    "several-queries": ("query A { __typename } query B { __typename }", None, MUST_NAME),
    "several-feeds": (
        "subscription A { homeFeed { cursor } } subscription B { homeFeed { kind } }",
        None,
        MUST_NAME,
    ),
    "a-feed-of-another-name": (
        "subscription A { homeFeed { cursor } }",
        "B",
        "Unknown operation named 'B'.",
    ),
}


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("query", "name", "message"), WS_UNSELECTED.values(), ids=WS_UNSELECTED.keys()
)
async def test_a_socket_operation_that_selects_none_is_an_error(
    live: LiveServer, protocol: str, query: str, name: str | None, message: str
) -> None:
    subscriber = await _subscriber(live, protocol)
    # when a subscribe message names no operation of several (the home feed's fast lane among
    # them), or one the document does not have
    await subscriber.send(_start(protocol, "1", {"query": query, "operationName": name}))
    # then the operation fails with the request error (the protocol's error message), and
    # nothing runs
    answer = await subscriber.receive(within=10)
    error = {"message": message}
    payload = [error] if protocol == "graphql-transport-ws" else error  # the legacy shape
    assert answer == {"id": "1", "type": "error", "payload": payload}
    await subscriber.close()


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_operation_name_that_is_not_a_string_runs_nothing(
    live: LiveServer, protocol: str
) -> None:
    subscriber = await _subscriber(live, protocol)
    payload = {"query": "query A { __typename }", "operationName": {"obj": "ect"}}
    await subscriber.send(_start(protocol, "1", payload))
    reason = "Can't get GraphQL operation type"
    if protocol == "graphql-transport-ws":  # the protocol's answer to an unusable subscribe
        assert await _closed_with(subscriber) == 4400
        return
    answer = await subscriber.receive(within=10)
    assert answer == {"id": "1", "type": "error", "payload": {"message": reason}}
    await subscriber.close()


@pytest.mark.e2e
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("key", [-1, 1 << 63], ids=["negative", "past-64-bits"])
async def test_a_live_feed_refuses_a_cursor_out_of_range(
    live: LiveServer, protocol: str, key: int
) -> None:
    subscriber = await _subscriber(live, protocol)
    query = "subscription($a: String) { homeFeed(after: $a) { cursor } }"
    variables = {"a": encode_cursor("post", key)}
    await subscriber.send(_start(protocol, "1", {"query": query, "variables": variables}))
    answer = await subscriber.receive(within=10)
    # then it is refused as a cursor we never issued (not a replay of every post since id 0)
    cursor = variables["a"]
    error: dict[str, Any] = {"message": f"unknown cursor {cursor!r} for this list"}
    if protocol == "graphql-transport-ws":
        error["extensions"] = {"code": "BAD_USER_INPUT"}
        assert answer == {"id": "1", "type": "error", "payload": [error]}
    else:  # the legacy protocol reports it as data with errors, without extensions
        assert answer == {"id": "1", "type": "data", "payload": {"data": None, "errors": [error]}}
    await subscriber.close()
