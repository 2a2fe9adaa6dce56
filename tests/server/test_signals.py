"""The site files: robots.txt, ai.txt, the TDMRep file and policy, served and well-formed."""

from __future__ import annotations

import re
from typing import Any

from server.crawlers import known_crawlers, robots_tokens
from tests.graphql import GraphQLClient

GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)"
TDMREP_KEYS = {"location", "tdm-reservation", "tdm-policy"}


def _check_tdmrep(rules: Any) -> None:
    """The W3C TDMRep well-known file: a JSON array of rules; ``location`` (a path pattern) and
    ``tdm-reservation`` (0 or 1) are required, ``tdm-policy`` is an absolute URL and only allowed
    where rights are reserved."""
    assert isinstance(rules, list)
    assert rules
    for rule in rules:
        assert isinstance(rule, dict)
        assert set(rule) <= TDMREP_KEYS
        assert isinstance(rule["location"], str)
        assert rule["location"].startswith("/")
        assert rule["tdm-reservation"] in (0, 1)
        assert type(rule["tdm-reservation"]) is int
        if "tdm-policy" in rule:
            assert rule["tdm-reservation"] == 1
            assert re.fullmatch(r"https?://[^\s/]+/\S*", rule["tdm-policy"])


async def test_robots_txt_disallows_every_known_ai_crawler() -> None:
    async with GraphQLClient.for_app() as site:
        # when even an AI crawler asks for robots.txt (it must be able to read the refusal)
        response = await site.http.get("/robots.txt", headers={"User-Agent": GPTBOT})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    groups = response.text.split("\n\n")
    ai_group = next(g for g in groups if "User-agent: GPTBot" in g).splitlines()
    agents = [line.removeprefix("User-agent: ") for line in ai_group if line.startswith("User-ag")]
    assert agents == list(robots_tokens(known_crawlers()))
    assert ai_group[-1] == "Disallow: /"
    everyone = next(g for g in groups if g.startswith("User-agent: *")).splitlines()
    assert everyone == ["User-agent: *", "Disallow: /graphql", "Disallow: /media/"]
    for line in response.text.splitlines():
        assert line == "" or line.startswith("#") or re.fullmatch(r"[A-Za-z-]+: \S.*", line)


async def test_ai_txt_refuses_all_files() -> None:
    async with GraphQLClient.for_app(GESSO_RIGHTS_CONTACT="rights@gesso.example") as site:
        response = await site.http.get("/ai.txt")
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert "# Licensing requests: rights@gesso.example" in lines
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules == [
        "User-Agent: *",
        "Disallow: /",
        *(f"Disallow: *.{ext}" for ext in ("jpg", "jpeg", "png", "webp", "avif", "gif")),
    ]


async def test_tdmrep_json_reserves_rights_and_links_the_policy() -> None:
    async with GraphQLClient.for_app() as site:
        response = await site.http.get("/.well-known/tdmrep.json")
        policy = await site.http.get("/tdm-policy.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    rules = response.json()
    _check_tdmrep(rules)
    assert rules == [
        {
            "location": "/",
            "tdm-reservation": 1,
            "tdm-policy": "http://127.0.0.1:8000/tdm-policy.json",
        }
    ]
    # and the policy it links is an ODRL offer in the TDMRep profile: mining needs consent
    assert policy.status_code == 200
    assert policy.headers["content-type"] == "application/ld+json"
    body = policy.json()
    assert body["@context"][0] == "http://www.w3.org/ns/odrl.jsonld"
    assert (body["@type"], body["profile"]) == ("Offer", "http://www.w3.org/ns/tdmrep")
    assert body["uid"] == "http://127.0.0.1:8000/tdm-policy.json"
    assert body["permission"] == [
        {
            "target": "http://127.0.0.1:8000/",
            "action": "tdm:mine",
            "duty": [{"action": "obtainConsent"}],
        }
    ]


async def test_site_files_follow_the_settings() -> None:
    environ = {
        "GESSO_PUBLIC_URL": "https://art.example/",
        "GESSO_TDM_POLICY_URL": "https://legal.example/tdm.json",
        "GESSO_RIGHTS_CONTACT": "https://art.example/licensing",
    }
    async with GraphQLClient.for_app(**environ) as site:
        rules = (await site.http.get("/.well-known/tdmrep.json")).json()
        policy = (await site.http.get("/tdm-policy.json")).json()
    _check_tdmrep(rules)
    assert rules[0]["tdm-policy"] == "https://legal.example/tdm.json"
    assert policy["assigner"] == {
        "uid": "https://art.example",
        "vcard:fn": "the artists of https://art.example",
        "vcard:hasURL": "https://art.example/licensing",
    }
    assert policy["permission"][0]["target"] == "https://art.example/"
