"""What a search costs: one statement finds a page, whatever the query; a word found in every post
reads about a window of them, no more than a word found in one; members are ranked by the
database, which returns only the page (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from argon2 import PasswordHasher
from tortoise import connections

from resolvers import passwords, search
from resolvers.search import WINDOW
from storage import rawsql
from storage.ids import new_id
from storage.models import Post, User
from tests.graphql import GraphQLClient, QueryCounter

SEARCH = """query($q: String!, $k: SearchKind!, $first: Int, $after: String) {
  search(query: $q, kind: $k, first: $first, after: $after) {
    edges { cursor node { ... on User { handle } ... on Post { id } } }
    pageInfo { hasNextPage endCursor } } }"""
PROFILE = """mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { errors { code } } }"""
# A common word in every one of them, a rare word in one: on PostgreSQL, enough posts for its
# planner to weigh reading them all against reading the newest (it reads all of a few thousand).
POSTS = {"postgres": 50_000, "sqlite": 3 * WINDOW}


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


def _search_statements(counter: QueryCounter) -> list[tuple[str, list[Any]]]:
    return [
        (sql, args)
        for sql, args in zip(counter.statements, counter.arguments, strict=True)
        if "search_vector" in sql or "<->" in sql or "_fts" in sql
    ]


def _rows_read(plan: dict[str, Any], table: str) -> int:
    """Rows of ``table`` that the plan's scans read (kept or filtered out), every loop; not
    those of an index alone (the id where the newest posts end)."""
    read = 0
    if plan.get("Relation Name") == table and plan["Node Type"] != "Index Only Scan":
        kept = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        kept += plan.get("Rows Removed by Index Recheck", 0)
        read += kept * plan.get("Actual Loops", 1)
    for child in plan.get("Plans", ()):
        read += _rows_read(child, table)
    return int(read)


async def test_a_common_word_costs_what_a_rare_one_does(gql: GraphQLClient, clean_db: str) -> None:
    # given many posts that all hold one word, and one that also holds a rare word
    await gql.sign_up("ada")
    ada = (await User.get(handle_key="ada")).id
    conn = connections.get("default")
    if clean_db.startswith("postgres"):
        await conn.execute_query(
            "INSERT INTO posts (id, author_id, text, visibility, like_count, comment_count,"
            " reply_count, created_at) SELECT $1::bigint + n, $2, 'fern study ' || n, 'public',"
            " 0, 0, 0, now() FROM generate_series(1, $3::int) n",
            [new_id(), ada, POSTS["postgres"] - 1],
        )
        await conn.execute_script("VACUUM ANALYZE posts")  # as autovacuum would, after a load
    else:
        posts = [Post(author_id=ada, text=f"fern study {n}") for n in range(POSTS["sqlite"] - 1)]
        await Post.bulk_create(posts, 500)
    await Post.create(author_id=ada, text="fern and a quokka")
    postgres = clean_db.startswith("postgres")
    counts = {}
    for word in ("fern", "quokka"):
        # when each is searched
        with QueryCounter.capture() as counter:
            found = await gql.execute(SEARCH, {"q": word, "k": "POSTS", "first": 20})
        assert found.data["search"]["edges"], word
        statements = _search_statements(counter)
        counts[word] = len(counter.statements)
        if not postgres:
            assert len(statements) == 1, statements
            continue
        read = 0
        for sql, args in statements:
            explained = await conn.execute_query_dict(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", args)
            plan = explained[0]["QUERY PLAN"]
            plan = orjson.loads(plan) if isinstance(plan, str) else plan
            read += _rows_read(plan[0]["Plan"], "posts")
        if word == "fern":
            # then the word in every post costs one statement, which reads a window of posts,
            # not the tens of thousands that hold it
            assert len(statements) == 1, statements
            assert read <= 2 * WINDOW, (read, plan)
        else:
            # and the rare word one more, which reads only its matches beyond the newest posts
            assert len(statements) == 2, statements
            assert read <= search.SCAN + 2 * WINDOW, read
    # and the page costs the same statements otherwise
    assert counts["quokka"] - counts["fern"] == (1 if postgres else 0)


async def test_a_rare_phrase_of_common_words_reads_its_rows_not_the_words(
    gql: GraphQLClient, clean_db: str
) -> None:
    # given many posts that hold two words apart, and older ones that hold them as a phrase
    await gql.sign_up("ada")
    ada = (await User.get(handle_key="ada")).id
    conn = connections.get("default")
    postgres = clean_db.startswith("postgres")
    phrased = WINDOW + 50
    if postgres:
        start = new_id()
        await conn.execute_query(
            "INSERT INTO posts (id, author_id, text, visibility, like_count, comment_count,"
            " reply_count, created_at) SELECT $1::bigint + n, $2,"
            " CASE WHEN n <= $4 THEN 'a fern study ' ELSE 'study of a fern ' END || n,"
            " 'public', 0, 0, 0, now() FROM generate_series(1, $3::int) n",
            [start, ada, POSTS["postgres"], phrased],
        )
        await conn.execute_script("VACUUM ANALYZE posts")
    else:
        texts = [f"a fern study {n}" for n in range(phrased)]
        texts += [f"study of a fern {n}" for n in range(POSTS["sqlite"])]
        await Post.bulk_create([Post(author_id=ada, text=text) for text in texts], 500)
    # when the phrase is searched
    with QueryCounter.capture() as counter:
        found = await gql.execute(SEARCH, {"q": '"fern study"', "k": "POSTS", "first": 20})
    # then it finds the posts that hold it, newest first
    edges = found.data["search"]["edges"]
    assert len(edges) == 20
    assert found.data["search"]["pageInfo"]["hasNextPage"]
    statements = _search_statements(counter)
    if not postgres:
        assert len(statements) == 1, statements
        return
    # and past the newest posts (none holds it), it reads the posts that hold the phrase, not
    # the tens of thousands that hold both its words
    assert len(statements) == 2, statements
    sql, args = statements[1]
    explained = await conn.execute_query_dict(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", args)
    plan = explained[0]["QUERY PLAN"]
    plan = orjson.loads(plan) if isinstance(plan, str) else plan
    read = _rows_read(plan[0]["Plan"], "posts")
    assert read <= 2 * phrased, (read, plan)


async def test_members_are_ranked_and_paged_by_the_database(
    gql: GraphQLClient, clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given members whose handles start alike, some followed more
    for n in range(12):
        await gql.sign_up(f"artist_{n:02d}")
        await gql.execute(PROFILE, {"i": {"displayName": f"Artist {n:02d}"}}, as_=f"artist_{n:02d}")
    fetched: list[int] = []
    fetch = rawsql.Reader.fetch

    async def counting(self: rawsql.Reader, sql: str, *args: Any) -> list[Any]:
        rows = await fetch(self, sql, *args)
        if "users" in sql and ("<->" in sql or "users_fts" in sql):
            fetched.append(len(rows))
        return rows

    monkeypatch.setattr(rawsql.Reader, "fetch", counting)
    # when they are read three at a time
    whole = await gql.execute(SEARCH, {"q": "artist", "k": "USERS", "first": 100})
    expected = [edge["node"]["handle"] for edge in whole.data["search"]["edges"]]
    fetched.clear()
    seen: list[str] = []
    after = None
    while True:
        page = await gql.execute(SEARCH, {"q": "artist", "k": "USERS", "first": 3, "after": after})
        connection = page.data["search"]
        seen += [edge["node"]["handle"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # then each comes once, in the order of the whole list
    assert len(expected) == 12
    assert seen == expected
    if clean_db.startswith("postgres"):
        # and PostgreSQL returned only each page (and one more to tell a page follows)
        assert fetched
        assert max(fetched) <= 3 + 1, fetched
    assert search.USERS_NEAREST >= 12  # every member above was a candidate
