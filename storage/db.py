"""Database setup: Tortoise configuration, connecting, migrating and closing."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.client import TransactionContext
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api import migrate as run_migrations
from tortoise.transactions import in_transaction as tortoise_transaction

from storage.replica import REPLICA, ReplicaRouter

APP_LABEL = "gesso"
MODELS_MODULE = "storage.models"
MIGRATIONS_MODULE = "storage.migrations"


class DatabaseUrlError(ValueError):
    """The database URL names a scheme Gesso does not support."""


def normalize_url(url: str) -> str:
    """Accept the URL spellings operators use and return Tortoise's.

    ``postgresql://`` (libpq's spelling) becomes ``postgres://``; a SQLite file's folder is created.
    """
    scheme = urlsplit(url).scheme
    if scheme in {"postgres", "postgresql", "asyncpg"}:
        return "postgres://" + url.split("://", 1)[1]
    if scheme == "sqlite":
        path = url.split("://", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return url
    raise DatabaseUrlError(
        f"unsupported DATABASE_URL scheme {scheme!r}: use sqlite:///path or postgres://..."
    )


# SQL statements sent to PostgreSQL by this process, by the role of the connection ("primary" or
# "replica"); read by the metrics endpoint. A plain dict: counting costs one addition.
STATEMENTS: dict[str, int] = {}


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection returned to the pool without asyncpg's reset query, counting the
    statements it runs (``STATEMENTS``).

    The default (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) runs each time a
    connection goes back to the pool, which Tortoise does after every query: a round trip per
    query for state Gesso never creates (no LISTEN, advisory locks, cursors or SET). An open
    transaction is still rolled back on release, whatever this returns.
    """

    role = "primary"

    def get_reset_query(self) -> str:
        return ""

    def _count(self, statements: int = 1) -> None:
        STATEMENTS[self.role] = STATEMENTS.get(self.role, 0) + statements

    # The four methods Tortoise's asyncpg client calls.
    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        self._count()
        return await super().fetch(*args, **kwargs)

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        self._count()
        return await super().fetchrow(*args, **kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._count()
        return await super().execute(*args, **kwargs)

    async def executemany(self, *args: Any, **kwargs: Any) -> Any:
        self._count()
        return await super().executemany(*args, **kwargs)


class ReplicaConnection(PooledConnection):
    """A pooled connection to the read replica (counted apart)."""

    role = "replica"


def _connection(url: str, connection_class: type[PooledConnection] = PooledConnection) -> Any:
    normalized = normalize_url(url)
    if not normalized.startswith("postgres://"):
        return normalized
    config = expand_db_url(normalized)
    config["credentials"]["connection_class"] = connection_class
    return config


def tortoise_config(url: str, replica_url: str | None = None) -> dict[str, Any]:
    """Tortoise's configuration; with ``replica_url``, a ``replica`` connection and the router
    that uses it inside ``storage.replica.reads_from_replica``."""
    config = _config(url)
    if replica_url is not None:
        config["connections"][REPLICA] = _connection(replica_url, ReplicaConnection)
        config["routers"] = [ReplicaRouter]
    return config


def _config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(url)},
        "apps": {
            APP_LABEL: {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


PRIMARY = "default"


def in_transaction() -> TransactionContext:
    """A transaction on the primary (Tortoise needs the name once a replica is configured)."""
    return tortoise_transaction(PRIMARY)


async def connect(url: str, replica_url: str | None = None) -> None:
    """Initialise Tortoise for this process (connections open lazily on first query)."""
    await Tortoise.init(config=tortoise_config(url, replica_url), _enable_global_fallback=True)


async def migrate(url: str) -> None:
    """Apply every pending migration; safe to call on each start."""
    try:
        await run_migrations(config=tortoise_config(url))
    finally:
        await close()


async def close() -> None:
    """Close the connections and forget the models' binding, so a later ``connect`` may target
    another database (even of another dialect) in the same process."""
    await Tortoise.close_connections()
    await Tortoise._reset_apps()
    # Tortoise caches each model's SQL by connection *name*, not dialect: forget it too.
    EXECUTOR_CACHE.clear()


# Configuration for the migration autodetector (``gesso makemigrations``): it compares the models
# with the migration files and needs no real database.
AUTODETECT_CONFIG: dict[str, Any] = {
    "connections": {"default": "sqlite://:memory:"},
    "apps": {
        APP_LABEL: {
            "models": [MODELS_MODULE],
            "migrations": MIGRATIONS_MODULE,
            "default_connection": "default",
        }
    },
}
