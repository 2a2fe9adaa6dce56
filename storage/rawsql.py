"""Hand-written SQL on Tortoise's connections, for the few hot reads where building the query
with the ORM costs more than running it (a feed page, the bearer token of every request).

Statements are written once for PostgreSQL (``$n`` placeholders, ``= ANY($n::bigint[])`` for a
list of ids, ``= ANY($n::text[])`` for a list of texts) and rewritten for SQLite (``?n``
placeholders, ``IN (SELECT value FROM json_each(?n))`` with the list passed as JSON text), so
both backends run the same SQL. They are logged the way Tortoise logs its own
(``tortoise.db_client`` at DEBUG).
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import orjson
from tortoise.fields.data import BooleanField, CharEnumFieldInstance, DatetimeField, JSONField
from tortoise.models import Model

Row = dict[str, Any]
Converters = list[tuple[str, Callable[[Any], Any]]]
M = TypeVar("M", bound=Model)

_ANY = re.compile(r"= ANY\(\$(\d+)::(?:bigint|text)\[\]\)")
_PARAM = re.compile(r"\$(\d+)")


def sqlite_dialect(sql: str) -> str:
    """``sql`` for SQLite: an id array is passed as a JSON text and read with json_each."""
    sql = _ANY.sub(r"IN (SELECT value FROM json_each($\1))", sql)
    return _PARAM.sub(r"?\1", sql)


# Bounded: page statements carry their limit, so each compiled plan has up to a few hundred.
_sqlite_sql = functools.lru_cache(maxsize=1024)(sqlite_dialect)


class Reader:
    """Runs statements on one acquired Tortoise connection, in the connection's dialect."""

    def __init__(self, client: Any, connection: Any) -> None:
        self.log = client.log
        self.connection = connection
        self.sqlite = client.capabilities.dialect == "sqlite"

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """The rows (asyncpg records or sqlite3 rows: by column name or by position)."""
        self.log.debug("%s: %s", sql, args)
        if not self.sqlite:
            rows: list[Any] = await self.connection.fetch(sql, *args)
            return rows
        values = [orjson.dumps(arg).decode() if isinstance(arg, list) else arg for arg in args]
        return list(await self.connection.execute_fetchall(_sqlite_sql(sql), values))


@contextlib.asynccontextmanager
async def reader(model: type[Model]) -> AsyncIterator[Reader]:
    """A reader on the connection the ORM would read ``model`` from now (the replica inside
    ``storage.replica.reads_from_replica``), held until the block ends."""
    client = model._choose_db()
    async with client.acquire_connection() as connection:
        yield Reader(client, connection)


def table_columns(model: type[Model]) -> tuple[str, ...]:
    """Every column of ``model``'s table: what the ORM reads for a model instance, which
    ``instances`` makes of the rows."""
    if not model._meta._inited:  # a foreign key's column is known once Tortoise is set up
        raise RuntimeError(f"{model.__name__}: Tortoise is not set up")
    return tuple(sorted(model._meta.db_fields))


def every_column(model: type[Model], alias: str) -> str:
    """The select list of every column of ``model``'s table (``alias.column``)."""
    return ", ".join(f"{alias}.{column}" for column in table_columns(model))


def instances(model: type[M], rows: Iterable[Any]) -> list[M]:
    """Model instances of rows of every column (``table_columns``), made as the ORM makes them
    from its own rows (``Model._init_from_db`` converts the columns; other columns are
    ignored)."""
    init = model._init_from_db
    return [init(**row) for row in rows]


def converters(model: type[Model], columns: Sequence[str]) -> Converters:
    """How to turn each raw column that needs it into what the model's field would hold."""
    out: Converters = []
    for column in columns:
        model_field = model._meta.fields_map.get(column)  # None: a foreign key's id column
        if isinstance(model_field, DatetimeField):
            out.append((column, _datetime(model_field)))
        elif isinstance(model_field, JSONField):
            out.append((column, _json(model_field)))
        elif isinstance(model_field, BooleanField):
            out.append((column, bool))
        elif isinstance(model_field, CharEnumFieldInstance):
            out.append((column, _member(model_field.enum_type)))
    return out


def _datetime(model_field: DatetimeField[Any]) -> Callable[[Any], Any]:
    convert = model_field.to_python_value

    def to_python(value: Any) -> Any:
        # asyncpg already returns timestamptz as an aware datetime in UTC, which is what the
        # field would make of it (the project's time zone is UTC); SQLite returns text.
        if type(value) is datetime and value.tzinfo is UTC:
            return value
        return convert(value)

    return to_python


# JSON columns (an image's variants, a post's tags) as read lately, by their text: the rows of a
# page are read again by the next pages that show them. Bounded, cleared whole when full. The
# values are shared between the rows and requests that read the same text: read-only.
_JSON_KEPT = 20_000
_json_read: dict[str, Any] = {}


def _json(model_field: JSONField[Any]) -> Callable[[Any], Any]:
    convert = model_field.to_python_value

    def to_python(value: Any) -> Any:
        if type(value) is not str:  # SQLite's text comes as str too; anything else: the field
            return convert(value)
        found = _json_read.get(value)
        if found is None:
            if len(_json_read) >= _JSON_KEPT:
                _json_read.clear()
            found = _json_read[value] = convert(value)
        return found

    return to_python


def _member(enum: type[Enum]) -> Callable[[Any], Any]:
    """The enum's member of a value (by a dict look-up: calling the enum costs ten times more)."""
    members: dict[Any, Enum] = {member.value: member for member in enum}
    convert = _nullable(enum)

    def member(value: Any) -> Any:
        found = members.get(value)
        return convert(value) if found is None else found  # None, or an error for a stray value

    return member


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def nullable(value: Any) -> Any:
        return None if value is None else convert(value)

    return nullable


def convert(rows: Sequence[Any], columns: Converters) -> list[Row]:
    """Rows as dicts, with the columns that need it converted."""
    out = []
    for raw in rows:
        row = dict(raw)
        for column, to_python in columns:
            row[column] = to_python(row[column])
        out.append(row)
    return out
