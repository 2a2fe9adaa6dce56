"""Queries and mutations generated from schema.graphql (hypothesis-graphql) against a production
server: whatever a client sends, the answer is never a 500 and never a masked unexpected error.

The runs are derandomized and bounded (the same 2,200 documents on every run), so a failure
reproduces; anything they find is kept as a plain regression test beside this file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import strategies as gql_st

from resolvers.ratelimit import DEFAULT_LIMITS
from tests.e2e.live import REPO, LiveServer
from tests.security.conftest import PRODUCTION

pytestmark = pytest.mark.e2e

SCHEMA = (REPO / "schema.graphql").read_text()
# Mutations whose required arguments are files: they cannot be sent as JSON at all.
FILE_ONLY = {"setAvatar", "addArtworkImage", "identifyImage"}
MUTATIONS = [
    name
    for name in graphql.build_schema(SCHEMA).mutation_type.fields  # type: ignore[union-attr]
    if name not in FILE_ONLY
]
# An Upload inside an optional input is sent as null (and refused as such when required).
SCALARS = {"Upload": st.just(graphql.NullValueNode())}
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Target:
    http: httpx.Client
    token: str
    log: Path
    sent: int = 0
    executed: int = 0  # documents that passed validation and the limits, and ran

    def send(self, document: str, *, signed_in: bool) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if signed_in else {}
        response = self.http.post("/graphql", json={"query": document}, headers=headers)
        self.sent += 1
        body = response.json() if response.status_code == 200 else {}
        if body.get("data") is not None or any(e.get("path") for e in body.get("errors") or []):
            self.executed += 1
        return response

    def start(self) -> None:
        self.sent = self.executed = 0

    def assert_mostly_executed(self) -> None:
        """Most generated documents must run, or the fuzzing only exercised validation."""
        assert self.executed >= self.sent // 2, (self.executed, self.sent)


def _call(http: httpx.Client, document: str, variables: dict[str, Any], token: str = "") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.post(
        "/graphql", json={"query": document, "variables": variables}, headers=headers
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    workdir = tmp_path_factory.mktemp("fuzz")
    # Thousands of requests from one account: every limit out of reach, or most cases would be
    # refused before they run (the limits have tests of their own).
    unlimited = ",".join(f"{name}=999999999/1s" for name in DEFAULT_LIMITS)
    server = LiveServer(workdir, {**PRODUCTION, "GESSO_RATE_LIMITS": unlimited}).start()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        # two artists, one following the other, an artwork and a post to find
        tokens = []
        for handle in ("fuzz_ada", "fuzz_bo"):
            _call(
                http,
                "mutation($i: SignUpInput!) { signUp(input: $i) { errors { code } } }",
                {
                    "i": {
                        "handle": handle,
                        "email": f"{handle}@example.com",
                        "password": "pw-12345678",
                    }
                },
            )
            logged = _call(
                http,
                "mutation($i: LogInInput!) { logIn(input: $i) { token } }",
                {"i": {"login": handle, "password": "pw-12345678"}},
            )
            tokens.append(logged["logIn"]["token"])
        bo = _call(http, "{ viewer { id } }", {}, tokens[1])["viewer"]["id"]
        _call(
            http,
            "mutation($u: ID!) { follow(userId: $u) { errors { code } } }",
            {"u": bo},
            tokens[0],
        )
        _call(
            http,
            'mutation { createArtwork(input: {title: "Dunes", tags: ["sand"]})'
            " { errors { code } } }",
            {},
            tokens[1],
        )
        _call(
            http,
            'mutation { createPost(input: {text: "hello #sand"}) { errors { code } } }',
            {},
            tokens[1],
        )
        yield Target(http, tokens[0], server.log_path)
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-5000:]


def check(response: httpx.Response, document: str) -> None:
    """Never a server error; errors are only those a client may see."""
    assert response.status_code < 500, (response.status_code, response.text, document)
    # A 401 would mean the token stopped working (logOut is left out of the signed-in run).
    assert response.status_code != 401, (response.text, document)
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code != "INTERNAL_SERVER_ERROR", (json.dumps(body)[:2000], document)


def test_fuzz_queries_anonymous(target: Target) -> None:
    @settings(FUZZ, max_examples=500)
    @given(document=gql_st.queries(SCHEMA, custom_scalars=SCALARS))
    def run(document: str) -> None:
        check(target.send(document, signed_in=False), document)

    target.start()
    run()
    target.assert_mostly_executed()


def test_fuzz_queries_signed_in(target: Target) -> None:
    @settings(FUZZ, max_examples=600)
    @given(document=gql_st.queries(SCHEMA, custom_scalars=SCALARS))
    def run(document: str) -> None:
        check(target.send(document, signed_in=True), document)

    target.start()
    run()
    target.assert_mostly_executed()


def test_fuzz_mutations_anonymous(target: Target) -> None:
    @settings(FUZZ, max_examples=400)
    @given(document=gql_st.mutations(SCHEMA, fields=MUTATIONS, custom_scalars=SCALARS))
    def run(document: str) -> None:
        check(target.send(document, signed_in=False), document)

    target.start()
    run()
    target.assert_mostly_executed()


def test_fuzz_mutations_signed_in(target: Target) -> None:
    # logOut would revoke the token every later case signs in with
    fields = [m for m in MUTATIONS if m != "logOut"]

    @settings(FUZZ, max_examples=700)
    @given(document=gql_st.mutations(SCHEMA, fields=fields, custom_scalars=SCALARS))
    def run(document: str) -> None:
        check(target.send(document, signed_in=True), document)

    target.start()
    run()
    target.assert_mostly_executed()
