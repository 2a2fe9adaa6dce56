from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# The public replies of existing posts, from their rows.
_BACKFILL = (
    "UPDATE posts SET public_reply_count = (SELECT COUNT(*) FROM posts r"
    " WHERE r.reply_to_id = posts.id AND r.visibility = 'public')"
)


class Migration(migrations.Migration):
    dependencies = [('gesso', '0006_visible_counts')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Post',
            name='public_reply_count',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.RunSQL(_BACKFILL, ops.RunSQL.noop),
    ]
