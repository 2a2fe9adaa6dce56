import re

from orjson import loads
from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# The #hashtag syntax of post texts when this migration was written.
_HASHTAG = re.compile(r"(?<![\w#])#([^\W_][\w-]{0,49})")
_MOST_VISIBLE_FIRST = {"public": 0, "followers": 1, "private": 2}


async def _tag_sources(apps, editor):
    """A tag copied from attached artworks names the most visible of them that has it; a tag
    written in the post's text stays a hashtag."""
    client = editor.client
    _, tagged = await client.execute_query(
        "SELECT t.id, t.post_id, t.tag, p.text FROM post_tags t JOIN posts p ON p.id = t.post_id"
        " WHERE t.post_id IN (SELECT post_id FROM post_artworks)"
    )
    _, attached = await client.execute_query(
        "SELECT pa.post_id, a.id, a.tags, a.visibility FROM post_artworks pa"
        " JOIN artworks a ON a.id = pa.artwork_id ORDER BY pa.post_id, pa.position, pa.id"
    )
    artworks = {}
    for row in attached:
        tags = loads(row["tags"]) if isinstance(row["tags"], (str, bytes)) else row["tags"]
        rank = _MOST_VISIBLE_FIRST.get(row["visibility"], 2)
        artworks.setdefault(int(row["post_id"]), []).append((rank, int(row["id"]), set(tags)))
    for row in tagged:
        tag, text = row["tag"], row["text"] or ""
        if tag in {m.lower() for m in _HASHTAG.findall(text)}:
            continue
        sources = sorted((r, a) for r, a, tags in artworks.get(int(row["post_id"]), []) if tag in tags)
        if sources:
            await client.execute_script(
                f"UPDATE post_tags SET artwork_id = {int(sources[0][1])} WHERE id = {int(row['id'])}"
            )


class Migration(migrations.Migration):
    dependencies = [('gesso', '0004_orphaned_objects')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='PostTag',
            options={'table': 'post_tags', 'app': 'gesso', 'unique_together': (('tag', 'post_id'),), 'indexes': [Index(fields=['post_id'], name='post_tags_post'), Index(fields=['artwork_id'], name='post_tags_artwork')], 'pk_attr': 'id', 'table_description': 'A tag of a post, for tagFeed: one of its #hashtags (``artwork`` null), or else a tag of an'},
        ),
        ops.AddField(
            model_name='PostTag',
            name='artwork',
            field=fields.ForeignKeyField('gesso.Artwork', source_field='artwork_id', null=True, db_constraint=True, to_field='id', related_name='post_tags', on_delete=OnDelete.CASCADE),
        ),
        ops.AddIndex(
            model_name='PostTag',
            index=Index(fields=['artwork_id'], name='post_tags_artwork'),
        ),
        ops.RunPython(_tag_sources, ops.RunPython.noop),
    ]
