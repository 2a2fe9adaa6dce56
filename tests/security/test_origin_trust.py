"""What the server believes about where a request comes from: the client address behind a proxy
(per-address rate limits) and the Host it names (the origin the site files link to)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.live import LiveServer

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
