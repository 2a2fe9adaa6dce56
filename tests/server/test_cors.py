"""CORS on /graphql and /media/: allowed origins get a cached preflight and their headers; any
other origin gets no CORS header."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from server.cors import BrowserOrigins
from tests.graphql import GraphQLClient

APP_ORIGIN = "https://app.example"
CLIENT_HEADERS = (
    "authorization, content-type, graphql-preflight, apollo-require-preflight, x-gesso-csrf"
)


@pytest.fixture
async def http(clean_db: str) -> AsyncIterator[httpx.AsyncClient]:
    async with GraphQLClient.for_app(GESSO_ALLOWED_ORIGINS=f"{APP_ORIGIN}/") as client:
        yield client.http


def _preflight(origin: str, path: str = "/graphql", method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": CLIENT_HEADERS,
    }


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@pytest.mark.parametrize("origin", [APP_ORIGIN, "http://localhost:5173", "http://127.0.0.1:3000"])
async def test_a_preflight_from_an_allowed_origin_is_answered_and_cached(
    http: httpx.AsyncClient, origin: str
) -> None:
    response = await http.options("/graphql", headers=_preflight(origin))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    assert response.headers["access-control-max-age"] == "7200"
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {h.strip() for h in CLIENT_HEADERS.split(",")} <= allowed
    assert {"apollographql-client-name", "apollographql-client-version"} <= allowed
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["vary"] == "Origin"


async def test_a_post_from_an_allowed_origin_carries_its_origin(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP_ORIGIN}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "etag" in response.headers["access-control-expose-headers"].split(", ")
    assert "Origin" in response.headers["vary"]


async def test_a_refused_token_still_reaches_the_allowed_origin(http: httpx.AsyncClient) -> None:
    # a browser app must be able to read the 401 to sign in again
    response = await http.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"Origin": APP_ORIGIN, "Authorization": "Bearer stale"},
    )
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://app.example.evil", "null", "http://localhost.evil"]
)
async def test_another_origin_gets_no_cors_header(http: httpx.AsyncClient, origin: str) -> None:
    preflight = await http.options("/graphql", headers=_preflight(origin))
    assert preflight.status_code == 403
    assert _cors_headers(preflight) == {}
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": origin}
    )
    assert response.status_code == 200
    assert _cors_headers(response) == {}
    assert response.headers["vary"] == "Origin"  # a shared cache keeps origins apart


async def test_media_answers_preflights_and_names_the_origin(http: httpx.AsyncClient) -> None:
    preflight = await http.options("/media/a/b.webp", headers=_preflight(APP_ORIGIN, method="GET"))
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-methods"] == "GET, HEAD"
    assert "range" in preflight.headers["access-control-allow-headers"].split(", ")
    # an unsigned URL is refused, readably
    refused = await http.get("/media/a/b.webp", headers={"Origin": APP_ORIGIN})
    assert refused.status_code == 403
    assert refused.headers["access-control-allow-origin"] == APP_ORIGIN
    other = await http.get("/media/a/b.webp", headers={"Origin": "https://evil.example"})
    assert _cors_headers(other) == {}


async def test_other_paths_have_no_cors(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"Origin": APP_ORIGIN})
    assert _cors_headers(response) == {}


def test_loopback_origins_are_allowed_only_outside_production() -> None:
    development = BrowserOrigins([APP_ORIGIN], loopback=True)
    production = BrowserOrigins([APP_ORIGIN], loopback=False)
    for origin in ("http://localhost:5173", "http://127.0.0.1", "https://[::1]:8443"):
        assert development.allows(origin)
        assert not production.allows(origin)
    assert production.allows("https://APP.example:443")
    assert not development.allows("http://localhost:99999")
    assert not development.allows("ftp://localhost")
    assert BrowserOrigins(["*"], loopback=False).allows("https://anyone.example")
