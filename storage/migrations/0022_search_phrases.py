from tortoise import migrations
from tortoise.migrations import operations as ops

# PostgreSQL: the pairs of adjacent words of each post and artwork ("morning light"), under GIN
# indexes, so that a phrase finds the rows that hold it and not every row that holds its words.
# The GIN index of the words keeps no positions: a phrase of two common words made PostgreSQL
# read every row that holds both to check their order. A pair is two lexemes of the row's
# ``search_vector`` whose positions follow each other, which is what the phrase operator (<->)
# checks, so the rows that hold a phrase's pairs include every row that holds the phrase.
# SQLite's FTS5 keeps positions in its index and needs nothing.
_PAIRS_FUNCTION = """
CREATE FUNCTION search_word_pairs(vector tsvector) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT ARRAY(
    SELECT a.lexeme || ' ' || b.lexeme
    FROM (SELECT lexeme, unnest(positions) AS position FROM unnest(vector)) a
    JOIN (SELECT lexeme, unnest(positions) AS position FROM unnest(vector)) b
      ON b.position = a.position + 1)
$$"""

_POSTGRES = [
    _PAIRS_FUNCTION,
    "CREATE INDEX posts_search_pairs ON posts USING gin (search_word_pairs(search_vector))",
    "CREATE INDEX artworks_search_pairs ON artworks USING gin (search_word_pairs(search_vector))",
]
_POSTGRES_UNDO = [
    "DROP INDEX artworks_search_pairs",
    "DROP INDEX posts_search_pairs",
    "DROP FUNCTION search_word_pairs(tsvector)",
]


async def _run(editor, statements):
    client = editor.client
    if client.capabilities.dialect == "sqlite":
        return
    for statement in statements:
        await client.execute_script(statement)


async def _pairs_indexes(apps, editor):
    await _run(editor, _POSTGRES)


async def _drop_pairs_indexes(apps, editor):
    await _run(editor, _POSTGRES_UNDO)


class Migration(migrations.Migration):
    dependencies = [('gesso', '0021_posts_author_shared')]

    initial = False

    operations = [
        ops.RunPython(_pairs_indexes, _drop_pairs_indexes),
    ]
