from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.models import Visibility
from tortoise import fields
from tortoise.indexes import Index, PartialIndex

# The visibility of existing tags' posts, from their rows.
_BACKFILL = (
    "UPDATE post_tags SET post_visibility = (SELECT p.visibility FROM posts p"
    " WHERE p.id = post_tags.post_id)"
)


class Migration(migrations.Migration):
    dependencies = [('gesso', '0007_public_replies')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Artwork',
            index=Index(fields=['owner_id', 'visibility', 'position', 'id'], name='artworks_owner_visibility'),
        ),
        ops.AddIndex(
            model_name='Follow',
            index=Index(fields=['follower_id', 'id'], name='follows_follower_id'),
        ),
        ops.AddIndex(
            model_name='Post',
            index=Index(fields=['author_id', 'visibility', 'id'], name='posts_author_visibility'),
        ),
        ops.AddIndex(
            model_name='Post',
            index=PartialIndex(fields=['id'], name='posts_public_id', condition={'visibility': 'public'}),
        ),
        ops.AddField(
            model_name='PostTag',
            name='post_visibility',
            field=fields.CharEnumField(default=Visibility.PUBLIC, description='PUBLIC: public\nFOLLOWERS: followers\nPRIVATE: private', db_default='public', enum_type=Visibility, max_length=16),
        ),
        ops.RunSQL(_BACKFILL, ops.RunSQL.noop),
        ops.AddIndex(
            model_name='PostTag',
            index=Index(fields=['tag', 'post_visibility', 'post_id', 'artwork_id'], name='post_tags_tag_visibility'),
        ),
    ]
