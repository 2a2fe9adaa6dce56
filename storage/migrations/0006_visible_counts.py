from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

def _count(table, owner, visibility):
    return (
        f"(SELECT COUNT(*) FROM {table} t WHERE t.{owner} = users.id"
        f" AND t.visibility = '{visibility}')"
    )


# The counters of existing accounts, from their rows.
_BACKFILL = (
    "UPDATE users SET"
    f" public_post_count = {_count('posts', 'author_id', 'public')},"
    f" followers_post_count = {_count('posts', 'author_id', 'followers')},"
    f" public_artwork_count = {_count('artworks', 'owner_id', 'public')},"
    f" followers_artwork_count = {_count('artworks', 'owner_id', 'followers')}"
)


class Migration(migrations.Migration):
    dependencies = [('gesso', '0005_post_tag_sources')]

    initial = False

    operations = [
        ops.AddField(
            model_name='User',
            name='followers_artwork_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='User',
            name='followers_post_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='User',
            name='public_artwork_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='User',
            name='public_post_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.RunSQL(_BACKFILL, ops.RunSQL.noop),
    ]
