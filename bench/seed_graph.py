"""A realistic social graph, generated in memory and written to PostgreSQL with COPY.

Popularity is Zipf-like: an artist's rank draws followers (``follow_zipf``) and posts
(``post_zipf``), so a few artists have thousands of followers and posts and most have few. Likes
come from the author's followers, more for more-followed authors. About a quarter of the posts carry
one to three artworks. Every id is a time-ordered Snowflake id (``storage.ids.id_for_time`` plus a
per-millisecond sequence), ``created_at`` is the time inside the id, and the denormalised counters
are computed from the rows they count (``verify_counters`` checks them after the load).

Beside that graph, drawn from a random stream of their own so that it stays the same, come the
members of the other viewer classes (``COHORTS``): rarely posting artists (one to three posts
each, followed only by these viewers), members who follow five of them (``sparse_``), members who
follow nobody (``new_``) and members who follow 50 artists drawn uniformly (``mixed_``: mostly the
long tail, a few popular ones).
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage.ids import EPOCH_MS, MAX_SEQUENCE, SEQUENCE_BITS, WORKER_BITS, id_for_time

DAY = 86_400.0
BENCH_WORKER = 1000  # the Snowflake worker bits of every seeded id
EPOCH = datetime.fromtimestamp(EPOCH_MS / 1000, UTC)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_WORDS = _words(
    "ink wash study sketch palette canvas gouache charcoal linocut etching glaze kiln portrait "
    "harbour orchard storm moth fox fern lantern window morning dusk night colour light shadow "
    "finished started trying new old layers texture brush pen paper studio commission open "
    "thanks everyone feedback welcome process timelapse detail crop print sale zine fair "
    "spring summer autumn winter blue ochre umber sienna cobalt viridian cadmium and the a of "
    "with for in on my this that today yesterday again finally still #wip #sketchbook #oil"
)
_FIRST = _words("Ada Basil Cora Dmitri Elif Femi Gwen Hiro Ines Jun Kofi Lena Mira Nils Oona Pia")
_LAST = _words("Inks Paints Clay Draws Etches Frames Glazes Hatches Sketches Carves Letters Prints")
_MEDIA = _words("oil watercolour ink digital charcoal gouache linocut ceramic acrylic pencil")
_SUBJECTS = _words("harbour fox orchard storm portrait city moth still-life mountain window")


@dataclass(frozen=True, slots=True)
class GraphSize:
    users: int = 10_000
    posts: int = 200_000
    follows_per_user: int = 100
    likes_per_post: float = 5.0
    attach_ratio: float = 0.25
    follow_zipf: float = 1.0
    post_zipf: float = 0.8
    seed: int = 42
    rare_artists: int = 200  # artists with one to three posts, followed by the cohorts only
    cohort_viewers: int = 16  # members of each of the sparse, new and mixed classes
    sparse_follows: int = 5
    mixed_follows: int = 50


# The viewer classes seeded beside the graph: handle prefix -> follows of each member.
COHORTS = ("sparse", "new", "mixed")
COHORT_WORKER = 1001  # the Snowflake worker bits of the cohorts' rows (apart from the graph's)


@dataclass(slots=True)
class SeedSummary:
    users: int = 0
    posts: int = 0
    follows: int = 0
    likes: int = 0
    artworks: int = 0
    attachments: int = 0
    max_followers: int = 0
    max_posts: int = 0
    generate_s: float = 0.0
    copy_s: float = 0.0
    analyze_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.generate_s + self.copy_s + self.analyze_s


def _ms(epoch_seconds: float) -> int:
    """Milliseconds since the Snowflake epoch, as ``id_for_time`` encodes them."""
    return id_for_time(epoch_seconds) >> (WORKER_BITS + SEQUENCE_BITS)


def snowflake_ids(ms: Sequence[int], worker: int = BENCH_WORKER) -> list[int]:
    """Unique ids for rows made at ``ms`` (milliseconds since the Snowflake epoch): the
    millisecond, ``worker`` and a sequence within the millisecond. Rows sort by id as by time."""
    ids = [0] * len(ms)
    last, sequence = -1, 0
    for index in sorted(range(len(ms)), key=ms.__getitem__):
        now = ms[index]
        if now <= last:
            now, sequence = last, sequence + 1
            if sequence > MAX_SEQUENCE:  # 4096 rows in one millisecond: borrow the next one
                now, sequence = now + 1, 0
        else:
            sequence = 0
        last = now
        ids[index] = (now << (WORKER_BITS + SEQUENCE_BITS)) | (worker << SEQUENCE_BITS)
        ids[index] |= sequence
    return ids


def created_at(snowflake: int) -> datetime:
    """The creation time encoded in a Snowflake id (so ``created_at`` always matches the id)."""
    return EPOCH + timedelta(milliseconds=snowflake >> (WORKER_BITS + SEQUENCE_BITS))


def _zipf_cum_weights(ranks: Sequence[int], exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in ranks))


def _weighted_sample(
    rng: random.Random, cum_weights: list[float], weights: list[float], k: int, exclude: int
) -> list[int]:
    """``k`` distinct indices drawn by weight, never ``exclude``."""
    n = len(cum_weights)
    if k * 4 > n:  # dense: Efraimidis-Spirakis keys, O(n)
        keys = sorted(
            ((rng.random() ** (1.0 / weights[i]), i) for i in range(n) if i != exclude),
            reverse=True,
        )
        return [i for _, i in keys[:k]]
    chosen: dict[int, None] = {}
    population = range(n)
    while len(chosen) < k:
        need = k - len(chosen)
        for index in rng.choices(population, cum_weights=cum_weights, k=need + need // 2 + 4):
            if index != exclude:
                chosen[index] = None
                if len(chosen) == k:
                    break
    return list(chosen)


@dataclass(slots=True)
class Graph:
    """The rows to COPY, as tuples in the column order of ``COLUMNS``."""

    users: list[tuple[Any, ...]]
    follows: list[tuple[Any, ...]]
    artworks: list[tuple[Any, ...]]
    posts: list[tuple[Any, ...]]
    post_artworks: list[tuple[Any, ...]]
    post_likes: list[tuple[Any, ...]]
    max_followers: int
    max_posts: int


COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "handle",
        "handle_key",
        "email",
        "email_key",
        "password_hash",
        "display_name",
        "bio",
        "links",
        "open_for_commissions",
        "ai_training_policy",
        "follower_count",
        "following_count",
        "post_count",
        "artwork_count",
        "created_at",
    ),
    "follows": ("id", "follower_id", "followee_id", "created_at"),
    "artworks": (
        "id",
        "owner_id",
        "title",
        "description",
        "medium",
        "tags",
        "position",
        "visibility",
        "like_count",
        "comment_count",
        "created_at",
        "updated_at",
    ),
    "posts": (
        "id",
        "author_id",
        "text",
        "visibility",
        "like_count",
        "comment_count",
        "reply_count",
        "created_at",
    ),
    "post_artworks": ("post_id", "artwork_id", "position"),
    "post_likes": ("id", "user_id", "post_id"),
}


def _visibility(rng: random.Random, followers: float, private: float) -> str:
    roll = rng.random()
    if roll < private:
        return "private"
    if roll < private + followers:
        return "followers"
    return "public"


def generate(size: GraphSize, now: float) -> Graph:
    """Build every row in memory (deterministic for a given ``size.seed`` and ``now``)."""
    rng = random.Random(size.seed)
    n = size.users
    first_user_t = max(EPOCH_MS / 1000 + DAY, now - 2 * 365 * DAY)
    last_user_t = now - 30 * DAY
    user_t = sorted(rng.uniform(first_user_t, last_user_t) for _ in range(n))
    user_ids = snowflake_ids([_ms(t) for t in user_t])

    # Popularity rank 0 is the most followed artist; ranks are shuffled over sign-up order.
    rank = list(range(n))
    rng.shuffle(rank)
    follow_cw = _zipf_cum_weights(rank, size.follow_zipf)
    follow_w = [1.0 / (r + 1) ** size.follow_zipf for r in rank]
    post_cw = _zipf_cum_weights(rank, size.post_zipf)

    # Follows: each user follows `follows_per_user` others, drawn by popularity.
    per_user = min(size.follows_per_user, n - 1)
    followers_of: list[list[int]] = [[] for _ in range(n)]
    follow_pairs: list[tuple[int, int]] = []
    follow_ms: list[int] = []
    for follower in range(n):
        for followee in _weighted_sample(rng, follow_cw, follow_w, per_user, follower):
            followers_of[followee].append(follower)
            follow_pairs.append((follower, followee))
            start = max(user_t[follower], user_t[followee])
            follow_ms.append(_ms(rng.uniform(start, now - DAY)))
    follow_ids = snowflake_ids(follow_ms)
    follows = [
        (fid, user_ids[a], user_ids[b], created_at(fid))
        for fid, (a, b) in zip(follow_ids, follow_pairs, strict=True)
    ]

    # Posts: more by popular artists, spread over the last year (after the author signed up).
    authors = rng.choices(range(n), cum_weights=post_cw, k=size.posts)
    post_ms = [
        _ms(rng.uniform(max(user_t[author], now - 365 * DAY), now - 60)) for author in authors
    ]
    post_ids = snowflake_ids(post_ms)
    order = sorted(range(size.posts), key=post_ids.__getitem__)

    # Likes from the author's followers; the expected count grows with the author's audience.
    like_weight = [math.sqrt(1 + len(followers_of[a])) for a in authors]
    like_scale = size.likes_per_post * size.posts / max(sum(like_weight), 1e-9)
    like_rows: list[tuple[int, int]] = []  # (user index, post index)
    like_ms: list[int] = []
    like_count = [0] * size.posts
    now_ms = _ms(now)
    for index in order:
        audience = followers_of[authors[index]]
        mean = like_weight[index] * like_scale
        k = min(len(audience), int(rng.expovariate(1.0 / mean))) if mean > 0 else 0
        if k:
            like_count[index] = k
            base = post_ms[index]
            for liker in rng.sample(audience, k):
                like_rows.append((liker, index))
                like_ms.append(min(now_ms, base + rng.randint(1_000, 3 * 86_400_000)))
    like_ids = snowflake_ids(like_ms)
    post_likes = sorted(
        (lid, user_ids[u], post_ids[p]) for lid, (u, p) in zip(like_ids, like_rows, strict=True)
    )

    # Artworks attached to posts: made a little before the post, by its author.
    attach: list[tuple[int, int, int]] = []  # (post index, owner index, position)
    art_ms: list[int] = []
    for index in order:
        if rng.random() >= size.attach_ratio:
            continue
        count = 1 + (rng.random() < 0.35) + (rng.random() < 0.15)
        author = authors[index]
        earliest = _ms(user_t[author])
        for position in range(count):
            attach.append((index, author, position))
            art_ms.append(max(earliest, post_ms[index] - rng.randint(0, 7 * 86_400_000)))
    art_ids = snowflake_ids(art_ms)
    artwork_count = [0] * n
    artworks: list[tuple[Any, ...]] = []
    post_artworks: list[tuple[Any, ...]] = []
    for aid, (post_index, owner, position) in sorted(
        zip(art_ids, attach, strict=True), key=lambda pair: pair[0]
    ):
        made = created_at(aid)
        artworks.append(
            (
                aid,
                user_ids[owner],
                f"{rng.choice(_SUBJECTS).replace('-', ' ')} study {artwork_count[owner] + 1}",
                "",
                rng.choice(_MEDIA),
                "[]",
                artwork_count[owner],
                _visibility(rng, followers=0.07, private=0.03),
                0,
                0,
                made,
                made,
            )
        )
        artwork_count[owner] += 1
        post_artworks.append((post_ids[post_index], aid, position))

    post_count = [0] * n
    posts: list[tuple[Any, ...]] = []
    for index in order:
        pid = post_ids[index]
        post_count[authors[index]] += 1
        words = rng.choices(_WORDS, k=rng.randint(3, 40))
        posts.append(
            (
                pid,
                user_ids[authors[index]],
                " ".join(words).capitalize(),
                _visibility(rng, followers=0.10, private=0.05),
                like_count[index],
                0,
                0,
                created_at(pid),
            )
        )

    cohorts = _cohorts(size, now, user_ids, (first_user_t, last_user_t))
    users = [
        (
            uid,
            f"artist_{i:05d}",
            f"artist_{i:05d}",
            f"artist_{i:05d}@bench.invalid",
            f"artist_{i:05d}@bench.invalid",
            "!",  # no password: benchmark viewers get tokens directly
            f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "",
            "[]",
            rng.random() < 0.2,
            "disallowed",
            len(followers_of[i]) + cohorts.followers.get(i, 0),
            per_user,
            post_count[i],
            artwork_count[i],
            created_at(uid),
        )
        for i, uid in enumerate(user_ids)
    ]
    return Graph(
        users=users + cohorts.users,
        follows=sorted(follows + cohorts.follows),
        artworks=artworks,
        posts=sorted(posts + cohorts.posts),
        post_artworks=post_artworks,
        post_likes=post_likes,
        max_followers=max((len(f) for f in followers_of), default=0),
        max_posts=max(post_count, default=0),
    )


@dataclass(slots=True)
class Cohorts:
    users: list[tuple[Any, ...]]
    follows: list[tuple[Any, ...]]
    posts: list[tuple[Any, ...]]
    followers: dict[int, int]  # graph user index -> followers among the cohorts


def _cohorts(
    size: GraphSize, now: float, graph_ids: list[int], signups: tuple[float, float]
) -> Cohorts:
    """The rarely posting artists and the sparse, new and mixed members, from a random stream
    of their own (the graph's rows do not change with them)."""
    rng = random.Random(size.seed * 7919 + 1)
    names = [f"rare_{i:05d}" for i in range(size.rare_artists)]
    for cohort in COHORTS:
        names += [f"{cohort}_{i:05d}" for i in range(size.cohort_viewers)]
    user_t = sorted(rng.uniform(*signups) for _ in names)
    user_ids = snowflake_ids([_ms(t) for t in user_t], COHORT_WORKER)
    ids = dict(zip(names, user_ids, strict=True))
    signup = dict(zip(names, user_t, strict=True))
    rare = names[: size.rare_artists]

    # Follows: (follower name, followee id, followee signup time); graph artists by index.
    pairs: list[tuple[str, int, float]] = []
    followers: dict[int, int] = {}
    rare_followers = dict.fromkeys(rare, 0)
    for name in names[size.rare_artists :]:
        if name.startswith("sparse_"):
            for artist in rng.sample(rare, min(size.sparse_follows, len(rare))):
                pairs.append((name, ids[artist], signup[artist]))
                rare_followers[artist] += 1
        elif name.startswith("mixed_"):
            k = min(size.mixed_follows, len(graph_ids))
            for index in rng.sample(range(len(graph_ids)), k):
                pairs.append((name, graph_ids[index], signups[0]))
                followers[index] = followers.get(index, 0) + 1
    follow_ms = [_ms(rng.uniform(max(signup[a], t), now - DAY)) for a, _, t in pairs]
    follow_ids = snowflake_ids(follow_ms, COHORT_WORKER)
    follows = [
        (fid, ids[name], followee, created_at(fid))
        for fid, (name, followee, _) in zip(follow_ids, pairs, strict=True)
    ]

    authors = [artist for artist in rare for _ in range(rng.randint(1, 3))]
    post_ms = [_ms(rng.uniform(max(signup[a], now - 365 * DAY), now - 60)) for a in authors]
    post_ids = snowflake_ids(post_ms, COHORT_WORKER)
    posts = [
        (
            pid,
            ids[author],
            " ".join(rng.choices(_WORDS, k=rng.randint(3, 40))).capitalize(),
            _visibility(rng, followers=0.10, private=0.05),
            0,
            0,
            0,
            created_at(pid),
        )
        for pid, author in zip(post_ids, authors, strict=True)
    ]
    following = dict.fromkeys(names, 0)
    for name, _, _ in pairs:
        following[name] += 1
    users = [
        (
            ids[name],
            name,
            name,
            f"{name}@bench.invalid",
            f"{name}@bench.invalid",
            "!",
            f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "",
            "[]",
            False,
            "disallowed",
            rare_followers.get(name, 0),
            following[name],
            authors.count(name),
            0,
            created_at(ids[name]),
        )
        for name in names
    ]
    return Cohorts(users=users, follows=follows, posts=posts, followers=followers)


async def recreate_database(admin_dsn: str, name: str) -> None:
    """Drop and create database ``name`` (``admin_dsn`` names another database on the server)."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def copy_graph(dsn: str, graph: Graph) -> dict[str, float]:
    """COPY every table; foreign-key triggers are off meanwhile (the rows are consistent by
    construction, and ``verify_counters`` checks what matters)."""
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET synchronous_commit = off")
        for table in ("users", "follows", "artworks", "posts", "post_artworks", "post_likes"):
            start = time.perf_counter()
            await conn.copy_records_to_table(
                table, records=getattr(graph, table), columns=list(COLUMNS[table])
            )
            timings[table] = time.perf_counter() - start
        await conn.execute("SET session_replication_role = origin")
    finally:
        await conn.close()
    return timings


async def vacuum_analyze(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


_MS_OF_CREATED_AT = f"(extract(epoch FROM created_at) * 1000)::bigint - {EPOCH_MS}"
_COUNTER_CHECKS = {
    "users.follower_count": """
        SELECT count(*) FROM users u
        LEFT JOIN (SELECT followee_id, count(*) AS c FROM follows GROUP BY 1) f
          ON f.followee_id = u.id
        WHERE u.follower_count <> coalesce(f.c, 0)""",
    "users.following_count": """
        SELECT count(*) FROM users u
        LEFT JOIN (SELECT follower_id, count(*) AS c FROM follows GROUP BY 1) f
          ON f.follower_id = u.id
        WHERE u.following_count <> coalesce(f.c, 0)""",
    "users.post_count": """
        SELECT count(*) FROM users u
        LEFT JOIN (SELECT author_id, count(*) AS c FROM posts GROUP BY 1) p ON p.author_id = u.id
        WHERE u.post_count <> coalesce(p.c, 0)""",
    "users.artwork_count": """
        SELECT count(*) FROM users u
        LEFT JOIN (SELECT owner_id, count(*) AS c FROM artworks GROUP BY 1) a ON a.owner_id = u.id
        WHERE u.artwork_count <> coalesce(a.c, 0)""",
    "posts.like_count": """
        SELECT count(*) FROM posts p
        LEFT JOIN (SELECT post_id, count(*) AS c FROM post_likes GROUP BY 1) l
          ON l.post_id = p.id
        WHERE p.like_count <> coalesce(l.c, 0)""",
    "posts.comment_count": """
        SELECT count(*) FROM posts p
        LEFT JOIN (SELECT post_id, count(*) AS c FROM comments GROUP BY 1) c ON c.post_id = p.id
        WHERE p.comment_count <> coalesce(c.c, 0)""",
    "ids match created_at": f"""
        SELECT (SELECT count(*) FROM posts WHERE (id >> 22) <> {_MS_OF_CREATED_AT})
             + (SELECT count(*) FROM users WHERE (id >> 22) <> {_MS_OF_CREATED_AT})
             + (SELECT count(*) FROM follows WHERE (id >> 22) <> {_MS_OF_CREATED_AT})
             + (SELECT count(*) FROM artworks WHERE (id >> 22) <> {_MS_OF_CREATED_AT})""",
    "dangling foreign keys": """
        SELECT (SELECT count(*) FROM follows f LEFT JOIN users u ON u.id = f.followee_id
                WHERE u.id IS NULL)
             + (SELECT count(*) FROM posts p LEFT JOIN users u ON u.id = p.author_id
                WHERE u.id IS NULL)
             + (SELECT count(*) FROM post_likes l LEFT JOIN posts p ON p.id = l.post_id
                WHERE p.id IS NULL)
             + (SELECT count(*) FROM post_artworks pa LEFT JOIN artworks a ON a.id = pa.artwork_id
                WHERE a.id IS NULL)""",
}


async def verify_counters(dsn: str) -> None:
    """Raise if a denormalised counter disagrees with the rows it counts."""
    conn = await asyncpg.connect(dsn)
    try:
        bad = {name: await conn.fetchval(sql) for name, sql in _COUNTER_CHECKS.items()}
    finally:
        await conn.close()
    wrong = {name: count for name, count in bad.items() if count}
    if wrong:
        raise RuntimeError(f"seeded data is inconsistent: {wrong}")


async def seed(admin_dsn: str, dsn: str, name: str, size: GraphSize) -> SeedSummary:
    """Recreate database ``name``, migrate it, load the graph and check it."""
    from storage import db

    summary = SeedSummary()
    start = time.perf_counter()
    await recreate_database(admin_dsn, name)
    await db.migrate(dsn)
    summary.timings["create+migrate"] = time.perf_counter() - start

    start = time.perf_counter()
    graph = generate(size, time.time())
    summary.generate_s = time.perf_counter() - start

    start = time.perf_counter()
    summary.timings.update(await copy_graph(dsn, graph))
    summary.copy_s = time.perf_counter() - start

    start = time.perf_counter()
    await vacuum_analyze(dsn)
    summary.analyze_s = time.perf_counter() - start
    start = time.perf_counter()
    await verify_counters(dsn)
    summary.timings["verify"] = time.perf_counter() - start

    summary.users = len(graph.users)
    summary.posts = len(graph.posts)
    summary.follows = len(graph.follows)
    summary.likes = len(graph.post_likes)
    summary.artworks = len(graph.artworks)
    summary.attachments = len(graph.post_artworks)
    summary.max_followers = graph.max_followers
    summary.max_posts = graph.max_posts
    return summary


# -- what the screens show besides the graph: images, comments, tags, a reply ------------------

# Each image's published variants, as ``resolvers.media.store`` describes them: three sizes in
# WebP and JPEG, the key derived from the image's id (``$w``/``$h``: the display size).
_VARIANT = (
    "jsonb_build_object('size', '{size}', 'format', '{fmt}', 'content_type', 'image/{fmt}',"
    " 'width', greatest(1, w * {scale} / 100), 'height', greatest(1, h * {scale} / 100),"
    " 'byte_size', 1000 + (id % 90000) * {scale} / 100,"
    " 'key', 'm/' || md5(id::text || '{size}{fmt}') || '.{fmt}')"
)
_VARIANTS = (
    "jsonb_build_array("
    + ", ".join(
        _VARIANT.format(size=size, fmt=fmt, scale=scale)
        for size, scale in (("display", 100), ("medium", 50), ("thumbnail", 12))
        for fmt in ("webp", "jpeg")
    )
    + ")"
)
# One statement per kind of image; ``src`` has id, owner_id, artwork_id, post_id, position, w, h.
_MEDIA_INSERT = f"""
    INSERT INTO media_assets (id, owner_id, artwork_id, post_id, kind, position, watermark_id,
      width, height, alt_text, dominant_color, variants, report, original_key, created_at)
    SELECT id, owner_id, artwork_id, post_id, '{{kind}}', position, id, w, h,
      'an image of ' || id, '#' || substr(md5(id::text), 1, 6), {_VARIANTS}, '{{{{}}}}'::jsonb,
      NULL, now()
    FROM ({{src}}) src
"""
_MEDIA_SOURCES = {
    # nine accounts in ten have an avatar
    "avatar": """SELECT 1000000000 + row_number() OVER (ORDER BY u.id) AS id, u.id AS owner_id,
        NULL::bigint AS artwork_id, NULL::bigint AS post_id, 0 AS position, 400 AS w, 400 AS h
        FROM users u WHERE u.id % 10 <> 0""",
    # a quarter of the posts have one or two images of their own
    "post": """SELECT 2000000000 + row_number() OVER (ORDER BY p.id, g) AS id,
        p.author_id AS owner_id, NULL::bigint AS artwork_id, p.id AS post_id, g AS position,
        1600 AS w, 1000 + (p.id % 600)::int AS h
        FROM posts p CROSS JOIN LATERAL generate_series(0, (p.id % 3 = 0)::int) g
        WHERE p.id % 4 = 0""",
    # every artwork has one to three images
    "artwork": """SELECT 3000000000 + row_number() OVER (ORDER BY a.id, g) AS id,
        a.owner_id, a.id AS artwork_id, NULL::bigint AS post_id, g AS position,
        1200 + (a.id % 400)::int AS w, 1600 AS h
        FROM artworks a CROSS JOIN LATERAL generate_series(
          0, (a.id % 2 = 0)::int + (a.id % 5 = 0)::int) g""",
}
SCREENS_TAG = "ink"  # on one post in eight, for tagFeed
SCREENS_COMMENTS = 3000  # on the showcased post and on the showcased artwork


@dataclass(frozen=True, slots=True)
class Showcase:
    """What the screens' benchmark reads: the most followed artist, one of their public posts
    (a reply, with images and attached artworks) and one of their public artworks, both with
    ``SCREENS_COMMENTS`` comments."""

    artist_id: int
    handle: str
    post_id: int
    artwork_id: int


async def add_screens(dsn: str) -> Showcase:
    """Add to a seeded graph what the reference client's screens show: avatars and images with
    their variants, comments, a tag and a reply; counters kept true."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        for kind, src in _MEDIA_SOURCES.items():
            await conn.execute(_MEDIA_INSERT.format(kind=kind, src=src))
        await conn.execute(
            "INSERT INTO post_tags (id, tag, post_id, post_visibility)"
            " SELECT row_number() OVER (ORDER BY id), $1, id, visibility FROM posts"
            " WHERE id % 8 = 0",
            SCREENS_TAG,
        )
        artist = await conn.fetchrow(
            "SELECT id, handle FROM users ORDER BY follower_count DESC, id LIMIT 1"
        )
        assert artist is not None
        post_id = await conn.fetchval(
            "SELECT p.id FROM posts p WHERE p.author_id = $1 AND p.visibility = 'public'"
            " AND EXISTS (SELECT 1 FROM media_assets m WHERE m.post_id = p.id)"
            " AND EXISTS (SELECT 1 FROM post_artworks pa WHERE pa.post_id = p.id)"
            " ORDER BY p.id DESC LIMIT 1",
            artist["id"],
        )
        artwork_id = await conn.fetchval(
            "SELECT a.id FROM artworks a WHERE a.owner_id = $1 AND a.visibility = 'public'"
            " ORDER BY a.id DESC LIMIT 1",
            artist["id"],
        )
        parent = await conn.fetchval(
            "SELECT id FROM posts WHERE visibility = 'public' AND id < $1 AND author_id <> $2"
            " ORDER BY id DESC LIMIT 1",
            post_id,
            artist["id"],
        )
        if post_id is None or artwork_id is None or parent is None:
            raise RuntimeError("the graph has no post or artwork to showcase: seed more")
        await conn.execute("UPDATE posts SET reply_to_id = $1 WHERE id = $2", parent, post_id)
        await conn.execute(
            "UPDATE posts SET reply_count = reply_count + 1,"
            " public_reply_count = public_reply_count + 1 WHERE id = $1",
            parent,
        )
        # comments: a few on one post in ten, and many on the showcased post and artwork
        base = await conn.fetchval("SELECT max(id) FROM posts")
        await conn.execute(
            """INSERT INTO comments (id, author_id, post_id, artwork_id, text, created_at)
               SELECT $1::bigint + row_number() OVER (ORDER BY target, g), author, post_id,
                 artwork_id, 'comment ' || g || ' on ' || target, now()
               FROM (
                 SELECT p.id AS target, p.id AS post_id, NULL::bigint AS artwork_id, g,
                   (SELECT id FROM users ORDER BY id OFFSET (p.id + g) % 500 LIMIT 1) AS author
                 FROM posts p CROSS JOIN LATERAL generate_series(1, 1 + (p.id % 3)::int) g
                 WHERE p.id % 10 = 0 AND p.id <> $2
                 UNION ALL
                 SELECT $2, $2, NULL, g,
                   (SELECT id FROM users ORDER BY id OFFSET g % 500 LIMIT 1)
                 FROM generate_series(1, $4::int) g
                 UNION ALL
                 SELECT $3, NULL, $3, g,
                   (SELECT id FROM users ORDER BY id OFFSET g % 500 LIMIT 1)
                 FROM generate_series(1, $4::int) g
               ) c""",
            base,
            post_id,
            artwork_id,
            SCREENS_COMMENTS,
        )
        await conn.execute(
            """UPDATE posts p SET comment_count = c.n
               FROM (SELECT post_id, count(*) AS n FROM comments WHERE post_id IS NOT NULL
                     GROUP BY 1) c WHERE c.post_id = p.id"""
        )
        await conn.execute(
            """UPDATE artworks a SET comment_count = c.n
               FROM (SELECT artwork_id, count(*) AS n FROM comments
                     WHERE artwork_id IS NOT NULL GROUP BY 1) c WHERE c.artwork_id = a.id"""
        )
        # the per-visibility counters (storage migration 0006) of the seeded works
        for kind, table, owner in (
            ("post", "posts", "author_id"),
            ("artwork", "artworks", "owner_id"),
        ):
            for visibility in ("public", "followers"):
                await conn.execute(
                    f"""UPDATE users u SET {visibility}_{kind}_count = coalesce(
                          (SELECT count(*) FROM {table} t WHERE t.{owner} = u.id
                           AND t.visibility = '{visibility}'), 0)"""
                )
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    return Showcase(artist["id"], artist["handle"], post_id, artwork_id)
