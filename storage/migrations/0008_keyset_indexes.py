from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index, PartialIndex

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
    ]
