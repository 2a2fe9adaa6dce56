from tortoise import migrations
from tortoise.migrations import operations as ops

# PostgreSQL: the trigram GiST indexes of members' handles and names with 64-byte signatures
# instead of pg_trgm's default 12. A member search reads the nearest names in order; with short
# signatures an inner page's union of trigrams sets nearly every bit, bounds nothing, and the scan
# visits almost every leaf. On the benchmark graph (10k members) a member search's statement went
# from 2.7-3.0 to 2.1 ms (eight queries, prepared, one connection); 128 and 256 bytes gave no more.
# SQLite's FTS5 trigram table needs nothing.
_SIGLEN = 64
_POSTGRES = [
    "DROP INDEX users_handle_trgm",
    f"CREATE INDEX users_handle_trgm ON users USING gist (handle_key gist_trgm_ops(siglen={_SIGLEN}))",
    "DROP INDEX users_name_trgm",
    "CREATE INDEX users_name_trgm ON users"
    f" USING gist (lower(display_name) gist_trgm_ops(siglen={_SIGLEN}))",
]
_POSTGRES_UNDO = [
    "DROP INDEX users_handle_trgm",
    "CREATE INDEX users_handle_trgm ON users USING gist (handle_key gist_trgm_ops)",
    "DROP INDEX users_name_trgm",
    "CREATE INDEX users_name_trgm ON users USING gist (lower(display_name) gist_trgm_ops)",
]


async def _run(editor, statements):
    client = editor.client
    if client.capabilities.dialect == "sqlite":
        return
    for statement in statements:
        await client.execute_script(statement)


async def _longer_signatures(apps, editor):
    await _run(editor, _POSTGRES)


async def _default_signatures(apps, editor):
    await _run(editor, _POSTGRES_UNDO)


class Migration(migrations.Migration):
    dependencies = [("gesso", "0022_search_phrases")]

    initial = False

    operations = [
        ops.RunPython(_longer_signatures, _default_signatures),
    ]
