"""What the server believes about where a request comes from: the client address behind a proxy
(per-address rate limits) and the Host it names (the origin the site files link to)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from server.crawlers import ai_crawler, parse_crawlers
from server.settings import SettingsError, read_settings
from tests.e2e.live import REPO, LiveServer
from tests.graphql import GraphQLClient
from tests.security.conftest import PRODUCTION

TINY_IP_LIMIT = 4


def _ip_remaining(response: httpx.Response) -> int:
    found = re.search(r'"ip";r=(\d+)', response.headers.get("RateLimit", ""))
    assert found is not None, response.headers
    return int(found.group(1))


def _typename(server: LiveServer, forwarded_for: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/graphql",
        json={"query": "{ __typename }"},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=10,
    )


def _tiny_ip_limit(workdir: Path, **env: str) -> LiveServer:
    return LiveServer(workdir, {"GESSO_RATE_LIMITS": f"ip={TINY_IP_LIMIT}/5m", **env}).start()


@pytest.mark.e2e
def test_a_loopback_client_cannot_pick_its_address_with_x_forwarded_for(tmp_path: Path) -> None:
    # given a server with a tiny per-address limit and no proxy configured
    server = _tiny_ip_limit(tmp_path)
    try:
        # when a client on loopback sends a new X-Forwarded-For address with every request
        responses = [_typename(server, f"203.0.113.{n}") for n in range(1, TINY_IP_LIMIT + 2)]
    finally:
        server.stop()
    # then all of them are counted as one address, and it runs out
    statuses = [response.status_code for response in responses]
    assert statuses[0] == 200
    assert statuses[-1] == 429, statuses
    remaining = [_ip_remaining(response) for response in responses if response.status_code == 200]
    assert remaining == sorted(remaining, reverse=True)
    assert len(set(remaining)) == len(remaining)


@pytest.mark.e2e
def test_a_configured_proxy_s_x_forwarded_for_is_honoured(tmp_path: Path) -> None:
    # given a server told that loopback is its proxy
    server = _tiny_ip_limit(tmp_path, FORWARDED_ALLOW_IPS="127.0.0.1")
    try:
        # when that proxy forwards requests from ever new client addresses
        responses = [_typename(server, f"203.0.113.{n}") for n in range(1, 2 * TINY_IP_LIMIT)]
    finally:
        server.stop()
    # then each address is counted on its own
    assert [response.status_code for response in responses] == [200] * len(responses)
    assert {_ip_remaining(response) for response in responses} == {TINY_IP_LIMIT - 1}


FORGED = "evil.example"
SITE_FILES = ("/.well-known/tdmrep.json", "/tdm-policy.json")
UNSIGNED_MEDIA = "/media/pub/a/display.webp"  # refused (403), with the reservation headers


async def _policy_urls_for_host(site: GraphQLClient, host: str) -> list[str]:
    """The policy URL as each site file and a media response name it, asked with ``host``."""
    tdmrep = await site.http.get(SITE_FILES[0], headers={"Host": host})
    policy = await site.http.get(SITE_FILES[1], headers={"Host": host})
    media = await site.http.get(UNSIGNED_MEDIA, headers={"Host": host})
    assert (tdmrep.status_code, policy.status_code, media.status_code) == (200, 200, 403)
    for response in (tdmrep, policy, media):
        assert FORGED not in response.text
        assert FORGED not in str(response.headers.raw)
    return [tdmrep.json()[0]["tdm-policy"], policy.json()["uid"], media.headers["tdm-policy"]]


def test_production_refuses_to_start_without_a_public_url(tmp_path: Path) -> None:
    # given production settings without GESSO_PUBLIC_URL
    environ = {k: v for k, v in PRODUCTION.items() if k != "GESSO_PUBLIC_URL"}
    # then the settings are refused, naming the variable
    with pytest.raises(SettingsError, match="GESSO_PUBLIC_URL is required in production"):
        read_settings(environ, env_file=tmp_path / "none")
    # and so is every command, before it does anything
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GESSO_", "DATABASE_URL"))}
    serve = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--port", "1"],
        env={**env, **environ, "PYTHONPATH": str(REPO), "GESSO_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert serve.returncode == 2
    assert "GESSO_PUBLIC_URL is required in production" in serve.stderr
    assert not (tmp_path / "gesso.sqlite3").exists()  # not even migrated


async def test_production_names_its_public_url_whatever_the_host(prod: GraphQLClient) -> None:
    urls = await _policy_urls_for_host(prod, FORGED)
    assert urls == ["https://gesso.example/tdm-policy.json"] * 3


async def test_development_never_writes_a_forged_host_into_the_signals() -> None:
    async with GraphQLClient.for_app() as site:
        urls = await _policy_urls_for_host(site, FORGED)
        # a name that merely starts like a loopback one is not one
        for trick in ("localhost.evil.example", "localhost:80@evil.example", "127.0.0.1:99999"):
            assert await _policy_urls_for_host(site, trick) == urls
    # loopback, on the port the server listens on (GESSO_PORT when, as in-process, none is known)
    assert urls == ["http://127.0.0.1:8000/tdm-policy.json"] * 3


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8000", "http://localhost:8000"),
        ("127.0.0.1", "http://127.0.0.1"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("art.example", "https://art.example"),  # GESSO_ALLOWED_ORIGINS names it
    ],
)
async def test_development_names_loopback_and_configured_hosts(host: str, origin: str) -> None:
    async with GraphQLClient.for_app(GESSO_ALLOWED_ORIGINS="https://art.example") as site:
        urls = await _policy_urls_for_host(site, host)
    assert urls == [f"{origin}/tdm-policy.json"] * 3


@pytest.mark.e2e
def test_a_live_development_server_falls_back_to_its_own_port(tmp_path: Path) -> None:
    server = LiveServer(tmp_path).start()
    try:
        response = httpx.get(f"{server.url}/tdm-policy.json", headers={"Host": FORGED})
    finally:
        server.stop()
    assert response.json()["uid"] == f"http://127.0.0.1:{server.port}/tdm-policy.json"


@pytest.mark.parametrize(
    "agent",
    [
        "CCBotanics-App/3.1 (Android 14)",
        "MyGPTBotClone/2.0",
        "Mozilla/5.0 (compatible; omgilibotany/1.0)",
        "Claude-Web-Preview/1.0",
        "Mozilla/5.0 (compatible; Kangaroo;Bot)",
    ],
)
def test_a_crawler_name_inside_a_longer_token_is_not_that_crawler(agent: str) -> None:
    assert ai_crawler(agent) is None


@pytest.mark.parametrize(
    ("agent", "crawler"),
    [
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
            "+https://openai.com/gptbot)",
            "GPTBot",
        ),
        ("CCBot/2.0 (https://commoncrawl.org/faq/)", "CCBot"),
        ("mozilla/5.0 (compatible; claudebot/1.0; +claudebot@anthropic.com)", "ClaudeBot"),
        (
            "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing)",
            "meta-externalagent",
        ),
        (
            "Mozilla/5.0 (compatible; Kangaroo Bot/1.0; +https://kangaroo.example/bot)",
            "Kangaroo Bot",
        ),
        ("Mozilla/5.0 (compatible; Sidetrade indexer bot)", "Sidetrade indexer bot"),
    ],
)
def test_a_crawler_is_caught_by_its_product_token_or_in_a_comment(agent: str, crawler: str) -> None:
    assert ai_crawler(agent) == crawler


async def test_only_the_crawler_itself_is_refused() -> None:
    async with GraphQLClient.for_app() as site:
        app = await site.http.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"User-Agent": "CCBotanics-App/3.1"},
        )
        kangaroo = await site.http.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"User-Agent": "Mozilla/5.0 (compatible; Kangaroo Bot/1.0)"},
        )
    assert app.status_code == 200, app.text
    assert kangaroo.status_code == 403
    assert kangaroo.json()["errors"][0]["extensions"]["code"] == "AI_CRAWLER"


async def test_every_robots_txt_user_agent_line_is_a_product_token() -> None:
    async with GraphQLClient.for_app() as site:
        robots = (await site.http.get("/robots.txt")).text
    agents = [
        line.split(":", 1)[1].strip()
        for line in robots.splitlines()
        if line.startswith("User-agent:")
    ]
    invalid = [agent for agent in agents if not re.fullmatch(r"[A-Za-z0-9_-]+|\*", agent)]
    assert invalid == []
    assert {"Kangaroo", "Sidetrade", "GPTBot", "*"} <= set(agents)


def test_a_listed_name_that_is_not_a_robots_txt_token_must_be_given_one() -> None:
    with pytest.raises(ValueError, match=r"line 2: 'Kangaroo Bot' is not a robots\.txt token"):
        parse_crawlers("GPTBot\nKangaroo Bot\n")
