from tortoise import migrations
from tortoise.migrations import operations as ops

# PostgreSQL: full text of posts and artworks as generated tsvector columns under GIN indexes
# (the 'simple' configuration: no stemming, every language alike), and trigram indexes on the
# names of accounts (pg_trgm): GiST, which reads the nearest names first (ORDER BY <-> LIMIT).
_POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE posts ADD COLUMN search_vector tsvector"
    " GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED",
    "CREATE INDEX posts_search ON posts USING gin (search_vector)",
    "ALTER TABLE artworks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', title), 'A')"
    " || setweight(jsonb_to_tsvector('simple', tags, '\"string\"'), 'B')"
    " || setweight(to_tsvector('simple', medium || ' ' || description), 'C')) STORED",
    "CREATE INDEX artworks_search ON artworks USING gin (search_vector)",
    "CREATE INDEX users_handle_trgm ON users USING gist (handle_key gist_trgm_ops)",
    "CREATE INDEX users_name_trgm ON users USING gist (lower(display_name) gist_trgm_ops)",
]

# SQLite: FTS5 tables kept by triggers. Posts and artworks index their own columns (external
# content: the text is not stored twice); accounts' names go to a trigram table of their own.
_SQLITE = [
    "CREATE VIRTUAL TABLE posts_fts USING fts5(text, content='posts', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN"
    " INSERT INTO posts_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN"
    " INSERT INTO posts_fts(posts_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER posts_fts_update AFTER UPDATE OF text ON posts BEGIN"
    " INSERT INTO posts_fts(posts_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " INSERT INTO posts_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE artworks_fts USING fts5(title, tags, medium, description,"
    " content='artworks', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER artworks_fts_insert AFTER INSERT ON artworks BEGIN"
    " INSERT INTO artworks_fts(rowid, title, tags, medium, description)"
    " VALUES (new.id, new.title, new.tags, new.medium, new.description); END",
    "CREATE TRIGGER artworks_fts_delete AFTER DELETE ON artworks BEGIN"
    " INSERT INTO artworks_fts(artworks_fts, rowid, title, tags, medium, description)"
    " VALUES ('delete', old.id, old.title, old.tags, old.medium, old.description); END",
    "CREATE TRIGGER artworks_fts_update AFTER UPDATE OF title, tags, medium, description"
    " ON artworks BEGIN"
    " INSERT INTO artworks_fts(artworks_fts, rowid, title, tags, medium, description)"
    " VALUES ('delete', old.id, old.title, old.tags, old.medium, old.description);"
    " INSERT INTO artworks_fts(rowid, title, tags, medium, description)"
    " VALUES (new.id, new.title, new.tags, new.medium, new.description); END",
    "INSERT INTO artworks_fts(artworks_fts) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE users_fts USING fts5(names, tokenize='trigram')",
    "CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN"
    " INSERT INTO users_fts(rowid, names) VALUES (new.id, new.handle_key || ' ' ||"
    " lower(new.display_name)); END",
    "CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN"
    " DELETE FROM users_fts WHERE rowid = old.id; END",
    "CREATE TRIGGER users_fts_update AFTER UPDATE OF handle_key, display_name ON users BEGIN"
    " DELETE FROM users_fts WHERE rowid = old.id;"
    " INSERT INTO users_fts(rowid, names) VALUES (new.id, new.handle_key || ' ' ||"
    " lower(new.display_name)); END",
    "INSERT INTO users_fts(rowid, names) SELECT id, handle_key || ' ' || lower(display_name)"
    " FROM users",
]


async def _search_indexes(apps, editor):
    client = editor.client
    statements = _SQLITE if client.capabilities.dialect == "sqlite" else _POSTGRES
    for statement in statements:
        await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('gesso', '0012_notifications')]

    initial = False

    operations = [
        ops.RunPython(_search_indexes, ops.RunPython.noop),
    ]
