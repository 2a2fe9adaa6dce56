from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('gesso', '0001_initial')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ArtworkLike',
            index=Index(fields=['artwork_id'], name='artwork_likes_artwork'),
        ),
        ops.AddIndex(
            model_name='AuthToken',
            index=Index(fields=['user_id'], name='auth_tokens_user'),
        ),
        ops.AddIndex(
            model_name='Comment',
            index=Index(fields=['author_id'], name='comments_author'),
        ),
        ops.AddIndex(
            model_name='Post',
            index=Index(fields=['reply_to_id'], name='posts_reply_to'),
        ),
        ops.AddIndex(
            model_name='PostArtwork',
            index=Index(fields=['artwork_id'], name='post_artworks_artwork'),
        ),
        ops.AddIndex(
            model_name='PostLike',
            index=Index(fields=['post_id'], name='post_likes_post'),
        ),
        ops.AddIndex(
            model_name='PostTag',
            index=Index(fields=['post_id'], name='post_tags_post'),
        ),
    ]
