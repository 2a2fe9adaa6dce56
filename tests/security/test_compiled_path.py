"""The compiled path (schema.plans) keeps the regular path's rules: persisted queries by hash and
the allowlist, counted fallbacks, and no exception swallowed where tests would miss it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from resolvers.feedsql import PageReader
from storage.persisted import RegisteredOperation, sha256_of, write_manifest
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION

FEED = (
    "query Feed { discoverFeed(first: 5) { edges { cursor node { id text author { handle } } } } }"
)
FEED_HASH = sha256_of(FEED)
HOME = "query Home($first: Int) { homeFeed(first: $first) { edges { node { text } } } }"


def _hash_only(sha256: str) -> dict[str, Any]:
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256}}}


async def _post(client: GraphQLClient, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response: httpx.Response = await client.http.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _seed(client: GraphQLClient) -> None:
    await client.sign_up("ana")
    made = await client.execute(
        'mutation { createPost(input: { text: "hello" }) { errors { code } } }', as_="ana"
    )
    assert made.data["createPost"]["errors"] == []


def _fallbacks(client: GraphQLClient, reason: str) -> float:
    counter = client.services.observer.compiled_fallbacks.labels(reason)
    return float(counter._value.get())


async def test_a_plan_answers_a_persisted_query_sent_by_its_hash(clean_db: str) -> None:
    # given a production server (automatic persisted queries) that has run a feed document
    # sent with its hash once
    async with GraphQLClient.for_app(**PRODUCTION) as client:
        await _seed(client)
        first = await _post(client, {"query": FEED, **_hash_only(FEED_HASH)})
        assert first["data"]["discoverFeed"]["edges"][0]["node"]["text"] == "hello"
        # when the client sends the hash alone, twice
        again = [await _post(client, _hash_only(FEED_HASH)) for _ in range(2)]
        # then the plan answers both, exactly as the regular path did
        assert again == [first, first]
        assert client.app.state.graphql.plans.served == 2


async def test_a_plan_found_by_hash_keeps_the_allowlist(clean_db: str, tmp_path: Path) -> None:
    # given a production allowlist server with one registered feed document
    manifest = tmp_path / "persisted.json"
    write_manifest(manifest, {FEED_HASH: RegisteredOperation("Feed", FEED)})
    async with GraphQLClient.for_app() as development:  # same database; signs up anyone
        await _seed(development)
    async with GraphQLClient.for_app(
        **PRODUCTION,
        GESSO_PERSISTED_QUERIES="allowlist",
        GESSO_PERSISTED_QUERIES_FILE=str(manifest),
    ) as client:
        # when it is sent by hash three times, and another feed document by its own hash
        answers = [await _post(client, _hash_only(FEED_HASH)) for _ in range(3)]
        other = "query Other { discoverFeed { edges { cursor } } }"
        refused = await _post(client, {"query": other, **_hash_only(sha256_of(other))})
        # then the registered one answers alike, from its plan after the first time
        assert answers[0]["data"]["discoverFeed"]["edges"][0]["node"]["text"] == "hello"
        assert answers == [answers[0]] * 3
        assert client.app.state.graphql.plans.served == 2
        # and the other is refused as before
        assert refused["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_fallbacks_are_counted_by_reason(clean_db: str) -> None:
    async with GraphQLClient.for_app() as client:
        await _seed(client)
        token = client.token_of("ana")
        # a document no plan covers (replyTo), sent twice: the second is a counted fallback
        uncovered = "{ discoverFeed { edges { node { replyTo { id } } } } }"
        for _ in range(2):
            await _post(client, {"query": uncovered})
        # a covered document, then requests the regular path must answer
        await _post(client, {"query": HOME, "variables": {"first": 2}}, token)
        anonymous = await _post(client, {"query": HOME})
        too_many = await _post(client, {"query": HOME, "variables": {"first": 101}}, token)
        assert anonymous["errors"]
        assert too_many["errors"]
        reasons = ("not_covered", "anonymous", "input", "error")
        assert [_fallbacks(client, reason) for reason in reasons] == [1, 1, 1, 0]
        exposition = client.services.observer.exposition().decode()
        assert 'gesso_compiled_fallbacks_total{reason="not_covered"} 1.0' in exposition


class _Broken(RuntimeError):
    pass


async def _broken_read(self: PageReader, *args: Any) -> Any:
    raise _Broken("a bug inside a plan")


async def test_an_exception_inside_a_plan_is_fatal_in_tests(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the test environment and a plan learned for a feed document
    async with GraphQLClient.for_app() as client:
        await _seed(client)
        await _post(client, {"query": FEED})
        # when the plan raises
        monkeypatch.setattr(PageReader, "read", _broken_read)
        # then the request fails with it, instead of a warning nobody reads
        with pytest.raises(_Broken):
            await client.http.post("/graphql", json={"query": FEED})
        assert _fallbacks(client, "error") == 1


async def test_an_exception_inside_a_plan_falls_back_when_not_strict(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a server that does not make plan exceptions fatal, and a learned plan
    async with GraphQLClient.for_app(GESSO_COMPILED_QUERIES_STRICT="false") as client:
        await _seed(client)
        before = await _post(client, {"query": FEED})
        # when the plan raises
        monkeypatch.setattr(PageReader, "read", _broken_read)
        after = await _post(client, {"query": FEED})
        # then the regular path answers the same, and the failure is counted
        assert after == before
        assert client.app.state.graphql.plans.served == 0
        assert _fallbacks(client, "error") == 1
