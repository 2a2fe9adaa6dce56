"""Rate limits through the HTTP API: 429 with Retry-After and RateLimit headers, write limits,
sign-in throttling, a limit shared by processes through Redis or a Redis Cluster, served unlimited
while Redis is away and enforced again when it returns, and normal use never limited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.crc import key_slot

from resolvers.ratelimit import DEFAULT_LIMITS, Limit, parse_limits
from server.settings import SettingsError, read_settings
from storage.models import Post
from storage.ratelimit import PREFIX, RETRY_AFTER_FAILURE
from tests.cluster import CLUSTER_SLOTS, RedisClusterProcesses
from tests.e2e.live import ONE_ADDRESS_MANY_USERS
from tests.graphql import GraphQLClient, pk_of
from tests.services import RedisProcess

TYPENAME = {"query": "{ __typename }"}
POST = """mutation($t: String!) { createPost(input: {text: $t}) { post { id } errors { code } } }"""
LOG_IN = """mutation($l: String!, $p: String!) { logIn(input: {login: $l, password: $p}) {
  token errors { code } } }"""
VIEWER = "{ viewer { handle } }"


async def test_a_burst_past_the_ip_limit_gets_429_with_retry_after(clean_db: str) -> None:
    async with GraphQLClient.for_app(GESSO_RATE_LIMITS="ip=5/1m") as site:
        # when one client sends 6 requests in a burst
        responses = [await site.http.post("/graphql", json=TYPENAME) for _ in range(6)]
        health = [await site.http.get("/healthz") for _ in range(10)]
    # then the first 5 pass and say what is left ...
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert [r.headers["ratelimit"] for r in responses[:5]] == [
        f'"ip";r={left};t=60' for left in (4, 3, 2, 1, 0)
    ]
    assert all(r.headers["ratelimit-policy"] == '"ip";q=5;w=60' for r in responses)
    # ... and the 6th is refused, saying when to come back
    refused = responses[-1]
    assert refused.headers["retry-after"] == "60"
    assert refused.headers["ratelimit"] == '"ip";r=0;t=60'
    assert refused.json() == {
        "errors": [
            {
                "message": "too many requests; try again in 60 s",
                "extensions": {"code": "RATE_LIMITED", "retryAfter": 60},
            }
        ]
    }
    # and health checks are never limited
    assert [r.status_code for r in health] == [200] * 10


async def test_each_account_has_its_own_request_limit(clean_db: str) -> None:
    async with GraphQLClient.for_app(GESSO_RATE_LIMITS="account=3/5m") as site:
        await site.sign_up("ada")
        await site.sign_up("bob")
        ada = [await site.execute(VIEWER, as_="ada") for _ in range(4)]
        bob = await site.execute(VIEWER, as_="bob")
        anonymous = await site.execute(VIEWER)
    assert [r.status for r in ada] == [200, 200, 200, 429]
    assert ada[-1].codes == ["RATE_LIMITED"]
    assert bob.data == {"viewer": {"handle": "bob"}}
    assert anonymous.data == {"viewer": None}


async def test_writes_over_their_hourly_limit_are_refused_and_not_done(clean_db: str) -> None:
    async with GraphQLClient.for_app(GESSO_RATE_LIMITS="post=2/1h") as site:
        await site.sign_up("ada")
        await site.sign_up("bob")
        posted = [await site.execute(POST, {"t": f"note {n}"}, as_="ada") for n in range(3)]
        other = await site.execute(POST, {"t": "bob's"}, as_="bob")
    assert [r.data["createPost"]["errors"] for r in posted[:2]] == [[], []]
    refused = posted[2]
    assert refused.status == 200  # the request as a whole was served; the write was refused
    assert refused.body["data"] is None  # createPost is non-null, so the error nulls data
    (error,) = refused.errors
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 3599 <= error["extensions"]["retryAfter"] <= 3600
    assert error["message"].startswith("too many posts per account (at most 2/3600s)")
    assert await Post.filter(text="note 2").count() == 0
    assert other.data["createPost"]["errors"] == []


async def test_failed_logins_are_throttled_per_account_and_per_ip(clean_db: str) -> None:
    environ = {"GESSO_RATE_LIMITS": "login_account=3/15m,login_ip=8/5m"}
    async with GraphQLClient.for_app(**environ) as site:
        await site.sign_up("ada", password="right password")  # signs in: 1 attempt
        await site.sign_up("bob", password="right password")  # 2
        # when someone guesses ada's password three times (by handle and by email)
        wrong = [
            await site.execute(LOG_IN, {"l": login, "p": "guess"})
            for login in ("ada", "ada@example.com", "ADA")
        ]
        # then even the right password is refused for ada for now, but not for bob
        ada = await site.execute(LOG_IN, {"l": "ada", "p": "right password"})
        bob = await site.execute(LOG_IN, {"l": "bob", "p": "right password"})
        # and the address that kept trying is throttled as a whole after 8 attempts
        last = await site.execute(LOG_IN, {"l": "bob", "p": "right password"})
        over = await site.execute(LOG_IN, {"l": "bob", "p": "right password"})
    assert [r.data["logIn"]["errors"] for r in wrong] == [[{"code": "INVALID_CREDENTIALS"}]] * 3
    assert ada.codes == ["RATE_LIMITED"]
    assert bob.data["logIn"]["token"]
    assert last.data["logIn"]["token"]
    assert over.codes == ["RATE_LIMITED"]


async def test_processes_sharing_redis_share_the_count(clean_db: str, tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        environ = {"REDIS_URL": redis.url, "GESSO_RATE_LIMITS": "ip=4/1m"}
        async with (
            GraphQLClient.for_app(**environ) as first,
            GraphQLClient.for_app(**environ) as second,
        ):
            statuses = [
                (await site.http.post("/graphql", json=TYPENAME)).status_code
                for site in (first, second, first, second, first, second)
            ]
            refused = await second.http.post("/graphql", json=TYPENAME)
    finally:
        redis.stop()
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert 59 <= int(refused.headers["retry-after"]) <= 60


async def _statuses(site: GraphQLClient, count: int) -> list[int]:
    return [(await site.http.post("/graphql", json=TYPENAME)).status_code for _ in range(count)]


async def test_requests_are_served_unlimited_while_redis_is_down_and_limited_after(
    clean_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gesso.ratelimit")
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        async with GraphQLClient.for_app(REDIS_URL=redis.url, GESSO_RATE_LIMITS="ip=3/1m") as site:
            before = await _statuses(site, 4)
            # when Redis stops mid-run
            redis.stop()
            during = [await site.http.post("/graphql", json=TYPENAME) for _ in range(6)]
            # and comes back (empty: it kept nothing on disk)
            redis.start()
            await asyncio.sleep(RETRY_AFTER_FAILURE)
            after = await _statuses(site, 4)
    finally:
        redis.stop()
    assert before == [200, 200, 200, 429]
    # then meanwhile every request was served, without limit headers
    assert [r.status_code for r in during] == [200] * 6
    assert all("ratelimit" not in r.headers for r in during)
    # and afterwards the limit holds again, from a fresh count
    assert after == [200, 200, 200, 429]
    logged = [r.getMessage() for r in caplog.records if r.name == "gesso.ratelimit"]
    assert len(logged) == 2
    assert logged[0].startswith("rate limits not enforced, their store is unavailable: ")
    assert logged[1] == "rate limits enforced again, their store answers"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterProcesses]:
    nodes = RedisClusterProcesses(tmp_path / "cluster").start()
    yield nodes
    nodes.stop()


def _node_of(key: str, cluster: RedisClusterProcesses) -> int:
    """The index of the primary serving ``key`` (the fixture splits the slots evenly)."""
    return key_slot(key.encode()) * len(cluster.ports) // CLUSTER_SLOTS


def _cluster_environ(cluster: RedisClusterProcesses) -> tuple[dict[str, str], int]:
    """Settings naming a node that does NOT hold the per-IP counter (a client that is not
    cluster-aware would be answered MOVED, and would not count), and the node that holds it."""
    holder = _node_of(f"{PREFIX}ip:127.0.0.1", cluster)
    named = cluster.ports[(holder + 1) % len(cluster.ports)]
    environ = {
        "REDIS_URL": f"redis://127.0.0.1:{named}/0",
        "GESSO_REDIS_CLUSTER": "true",
        "GESSO_RATE_LIMITS": "ip=4/1m,account=2/5m",
    }
    return environ, holder


async def test_processes_on_a_redis_cluster_share_the_count(
    clean_db: str, cluster: RedisClusterProcesses
) -> None:
    environ, _ = _cluster_environ(cluster)
    async with (
        GraphQLClient.for_app(**environ) as first,
        GraphQLClient.for_app(**environ) as second,
    ):
        statuses = [
            (await site.http.post("/graphql", json=TYPENAME)).status_code
            for site in (first, second, first, second, first, second)
        ]
    assert statuses == [200, 200, 200, 200, 429, 429]


async def test_per_account_counters_on_every_cluster_node_are_kept_apart(
    clean_db: str, cluster: RedisClusterProcesses
) -> None:
    environ, _ = _cluster_environ(cluster)
    # every sign-up comes from one address: only the per-account limit may refuse
    environ["GESSO_RATE_LIMITS"] = f"{ONE_ADDRESS_MANY_USERS},account=2/5m"
    async with GraphQLClient.for_app(**environ) as site:
        # given accounts whose counters live on each of the three nodes
        handles: dict[int, str] = {}
        for n in range(40):
            handle = f"node_user_{n}"
            user_id = pk_of(await site.sign_up(handle))
            handles.setdefault(_node_of(f"{PREFIX}account:{user_id}", cluster), handle)
            if len(handles) == len(cluster.ports):
                break
        assert sorted(handles) == [0, 1, 2]
        # when each reads past its limit (signing up and in are not counted per account)
        answers = {
            node: [(await site.execute(VIEWER, as_=handle)).status for _ in range(3)]
            for node, handle in handles.items()
        }
    # then each is refused its third request, on whichever node its counter lives
    assert answers == {node: [200, 200, 429] for node in handles}


async def test_a_cluster_node_stopping_mid_run_fails_open_then_limits_hold(
    clean_db: str, cluster: RedisClusterProcesses
) -> None:
    environ, holder = _cluster_environ(cluster)
    async with GraphQLClient.for_app(**environ) as site:
        before = await _statuses(site, 5)
        # when the node holding the per-IP counter stops
        cluster.stop_node(holder)
        during: list[httpx.Response] = []
        async with asyncio.timeout(15):
            for _ in range(6):
                during.append(await site.http.post("/graphql", json=TYPENAME))
        # and comes back (it kept nothing on disk)
        cluster.restart_node(holder)
        await asyncio.sleep(RETRY_AFTER_FAILURE)
        after = await _statuses(site, 5)
    assert before == [200, 200, 200, 200, 429]
    assert [r.status_code for r in during] == [200] * 6
    assert all("ratelimit" not in r.headers for r in during)
    assert after == [200, 200, 200, 200, 429]


async def test_limits_can_be_turned_off(clean_db: str) -> None:
    environ = {"GESSO_RATE_LIMITS": "ip=1/1m", "GESSO_RATE_LIMITS_ENABLED": "false"}
    async with GraphQLClient.for_app(**environ) as site:
        responses = [await site.http.post("/graphql", json=TYPENAME) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert "ratelimit" not in responses[0].headers


async def test_normal_use_is_never_limited(clean_db: str) -> None:
    # given the default limits and an artist's busy quarter of an hour: reading the feed,
    # posting, liking, commenting, following, refreshing
    async with GraphQLClient.for_app(GESSO_RATE_LIMITS="") as site:
        for handle in ("ada", "bob", "cyd"):
            await site.sign_up(handle)
        results = []
        for other in ("bob", "cyd"):
            user = await site.execute(
                "query($h: String!) { user(handle: $h) { id } }", {"h": other}
            )
            follow = "mutation($u: ID!) { follow(userId: $u) { errors { code } } }"
            results.append(await site.execute(follow, {"u": user.data["user"]["id"]}, as_="ada"))
        for n in range(10):
            posted = await site.execute(POST, {"t": f"work in progress {n}"}, as_="bob")
            results.append(posted)
            post_id = posted.data["createPost"]["post"]["id"]
            results.append(
                await site.execute(
                    "mutation($p: ID!) { likePost(postId: $p) { errors { code } } }",
                    {"p": post_id},
                    as_="ada",
                )
            )
            results.append(
                await site.execute(
                    'mutation($p: ID!) { addComment(input: {subjectId: $p, text: "lovely"}) {'
                    " errors { code } } }",
                    {"p": post_id},
                    as_="ada",
                )
            )
            for _ in range(8):
                results.append(
                    await site.execute("{ homeFeed(first: 20) { edges { cursor } } }", as_="ada")
                )
    # then nothing was refused
    assert len(results) == 2 + 10 * 11
    assert {r.status for r in results} == {200}
    assert all(r.errors == [] for r in results)


def test_limit_settings_are_checked() -> None:
    assert parse_limits("post=60/1h, login_ip = 50/5m,ip=10/s") == {
        "post": Limit(60, 3600),
        "login_ip": Limit(50, 300),
        "ip": Limit(10, 1),
    }
    assert parse_limits("") == {}
    assert set(DEFAULT_LIMITS) >= {"post", "comment", "like", "follow", "upload", "login_ip"}
    for bad, message in [
        ("posts=1/1h", "unknown limit 'posts'"),
        ("post=0/1h", "the count must be >= 1"),
        ("post=10/8d", "the duration 1s..7d"),
        ("post=10", "not name=count/duration"),
        ("post=10/1w", "not name=count/duration"),
    ]:
        with pytest.raises(SettingsError, match=f"GESSO_RATE_LIMITS: .*{message}"):
            read_settings({"GESSO_RATE_LIMITS": bad}, env_file=Path("/nonexistent"))


IDENTIFY = "mutation($f: Upload!) { identifyImage(file: $f) { found errors { code } } }"


async def test_identify_image_reads_are_limited_per_address(clean_db: str) -> None:
    picture = _unmarked_jpeg()
    async with GraphQLClient.for_app(GESSO_RATE_LIMITS="identify=2/1h") as site:
        answers = [
            await site.upload(IDENTIFY, {"f": None}, {"f": ("copy.jpg", picture, "image/jpeg")})
            for _ in range(3)
        ]
    assert [a.data["identifyImage"] for a in answers[:2]] == [{"found": False, "errors": []}] * 2
    (error,) = answers[2].errors
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["message"].startswith("too many identifyImage reads per client IP")


def _unmarked_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 90, 60)).save(out, "JPEG")
    return out.getvalue()
