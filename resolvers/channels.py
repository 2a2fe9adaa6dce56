"""Every pub/sub channel name, in one place (so a sharded Redis Cluster setup sees them all).

* ``author_posts(id)``: new posts and deletions by one artist. Each process subscribes once per
  artist that any of its local subscribers follows, so a post is published once, not once per
  follower.
* ``user_inbox(id)``: events for one account: notifications, upload progress, and follow changes
  (which make the account's live home feed add or drop an artist).
* ``user_tokens(id)``: revocations of one account's bearer tokens. A process listens while it holds
  a websocket signed in as that account (``resolvers.tokens``), so a revocation reaches only the
  processes that may have to close a socket.
"""

from __future__ import annotations

PREFIX = "gesso"


def author_posts(author_id: int) -> str:
    return f"{PREFIX}:posts:{author_id}"


def user_inbox(user_id: int) -> str:
    return f"{PREFIX}:user:{user_id}"


def user_tokens(user_id: int) -> str:
    return f"{PREFIX}:tokens:{user_id}"
