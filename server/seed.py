"""Demo content for a fresh database: artists with portfolios, posts, follows, likes, comments.

Everything goes through the same resolver functions the API uses, so the demo data obeys every
rule (validation, counters, tags) that real data does.
"""

from __future__ import annotations

import random

from rich.progress import Progress

from resolvers import accounts, portfolio, posts, social
from resolvers.context import Context
from resolvers.errors import InputError
from resolvers.services import Services
from resolvers.social import CommentTarget
from storage import db
from storage.models import Post, User

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - printed for the developer to sign in with
_NAMES = [
    "ada_inks",
    "basil_paints",
    "cora_clay",
    "dmitri_draws",
    "elif_etches",
    "femi_frames",
    "gwen_glazes",
    "hiro_hatches",
    "ines_illustrates",
    "jun_sketches",
    "kofi_carves",
    "lena_letters",
]
_MEDIA = [
    "oil on canvas",
    "watercolour",
    "ink",
    "digital painting",
    "charcoal",
    "gouache",
    "linocut",
    "ceramic",
    "acrylic",
    "pencil",
]
_SUBJECTS = [
    "harbour",
    "fox",
    "orchard",
    "storm",
    "portrait",
    "city at night",
    "moth",
    "still life",
    "mountain pass",
    "kitchen window",
]
_TAGS = ["landscape", "portrait", "wip", "sketchbook", "nature", "urban", "figure", "colour"]
_LINES = [
    "Finished this one last night.",
    "Work in progress, thoughts welcome!",
    "Trying a new palette.",
    "Studio day.",
    "Commissions open this month.",
]


async def run_demo_seed(database_url: str, *, artists: int, seed: int = 7) -> str:
    rng = random.Random(seed)  # noqa: S311 - demo content, not security
    services = Services(token_ttl_seconds=3600)
    await db.connect(database_url)
    try:
        handles = [
            _NAMES[i % len(_NAMES)] + ("" if i < len(_NAMES) else f"_{i}") for i in range(artists)
        ]
        users: list[User] = []
        with Progress() as progress:
            task = progress.add_task("seeding demo artists", total=artists * 4)
            for handle in handles:
                existing = await accounts.find_by_handle(handle)
                users.append(
                    existing
                    or await accounts.sign_up(
                        handle=handle,
                        email=f"{handle}@example.com",
                        password=DEMO_PASSWORD,
                        display_name=handle.replace("_", " ").title(),
                    )
                )
                progress.advance(task)
            for user in users:
                ctx = Context(services=services, viewer=user)
                artworks = []
                for _ in range(rng.randint(2, 4)):
                    subject = rng.choice(_SUBJECTS)
                    artworks.append(
                        await portfolio.create_artwork(
                            ctx,
                            title=subject.title(),
                            medium=rng.choice(_MEDIA),
                            description=f"A study of a {subject}.",
                            tags=rng.sample(_TAGS, 2),
                        )
                    )
                for artwork in artworks:
                    await posts.create_post(
                        ctx,
                        text=f"{rng.choice(_LINES)} #{rng.choice(_TAGS)}",
                        artwork_ids=[artwork.id],
                    )
                progress.advance(task)
            for user in users:
                ctx = Context(services=services, viewer=user)
                for other in rng.sample(
                    [u for u in users if u.id != user.id], k=min(3, len(users) - 1)
                ):
                    await social.follow(ctx, other.id)
                progress.advance(task)
            feed = await Post.all().order_by("-id").limit(50)
            for user in users:
                ctx = Context(services=services, viewer=user)
                for post in rng.sample(feed, k=min(5, len(feed))):
                    try:
                        await social.set_post_like(ctx, post.id, liked=True)
                        await social.add_comment(
                            ctx,
                            CommentTarget(post_id=post.id),
                            rng.choice(["Lovely!", "Wow.", "The colours!"]),
                        )
                    except InputError:
                        continue
                progress.advance(task)
    finally:
        await db.close()
    return (
        f"seeded {artists} artists; sign in as any of {', '.join(handles[:3])} ... "
        f"with password {DEMO_PASSWORD!r}"
    )
