from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from storage.ids import new_id
from storage.models import TrainingPolicy, Visibility
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('handle', fields.CharField(max_length=30)),
                ('handle_key', fields.CharField(unique=True, max_length=30)),
                ('email', fields.CharField(max_length=254)),
                ('email_key', fields.CharField(unique=True, max_length=254)),
                ('password_hash', fields.CharField(max_length=255)),
                ('display_name', fields.CharField(default='', max_length=64)),
                ('bio', fields.TextField(default='', unique=False)),
                ('links', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('open_for_commissions', fields.BooleanField(default=False)),
                ('ai_training_policy', fields.CharEnumField(default=TrainingPolicy.DISALLOWED, description='DISALLOWED: disallowed\nALLOWED: allowed', enum_type=TrainingPolicy, max_length=16)),
                ('follower_count', fields.IntField(default=0)),
                ('following_count', fields.IntField(default=0)),
                ('post_count', fields.IntField(default=0)),
                ('artwork_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'gesso', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Artwork',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('owner', fields.ForeignKeyField('gesso.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='artworks', on_delete=OnDelete.CASCADE)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('medium', fields.CharField(default='', max_length=100)),
                ('tags', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('position', fields.IntField(default=0)),
                ('visibility', fields.CharEnumField(default=Visibility.PUBLIC, description='PUBLIC: public\nFOLLOWERS: followers\nPRIVATE: private', enum_type=Visibility, max_length=16)),
                ('ai_training_policy', fields.CharEnumField(null=True, description='DISALLOWED: disallowed\nALLOWED: allowed', enum_type=TrainingPolicy, max_length=16)),
                ('like_count', fields.IntField(default=0)),
                ('comment_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'artworks', 'app': 'gesso', 'indexes': [Index(fields=['owner_id', 'position', 'id'], name='artworks_owner_pos')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ArtworkLike',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('gesso.User', source_field='user_id', db_constraint=True, to_field='id', related_name='artwork_likes', on_delete=OnDelete.CASCADE)),
                ('artwork', fields.ForeignKeyField('gesso.Artwork', source_field='artwork_id', db_constraint=True, to_field='id', related_name='likes', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'artwork_likes', 'app': 'gesso', 'unique_together': (('user_id', 'artwork_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuthToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('gesso.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'auth_tokens', 'app': 'gesso', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Follow',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('follower', fields.ForeignKeyField('gesso.User', source_field='follower_id', db_constraint=True, to_field='id', related_name='following_rows', on_delete=OnDelete.CASCADE)),
                ('followee', fields.ForeignKeyField('gesso.User', source_field='followee_id', db_constraint=True, to_field='id', related_name='follower_rows', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'follows', 'app': 'gesso', 'unique_together': (('follower_id', 'followee_id'),), 'indexes': [Index(fields=['followee_id', 'id'], name='follows_followee_id')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Post',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('author', fields.ForeignKeyField('gesso.User', source_field='author_id', db_constraint=True, to_field='id', related_name='posts', on_delete=OnDelete.CASCADE)),
                ('text', fields.TextField(default='', unique=False)),
                ('reply_to', fields.ForeignKeyField('gesso.Post', source_field='reply_to_id', null=True, db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.SET_NULL)),
                ('visibility', fields.CharEnumField(default=Visibility.PUBLIC, description='PUBLIC: public\nFOLLOWERS: followers\nPRIVATE: private', enum_type=Visibility, max_length=16)),
                ('like_count', fields.IntField(default=0)),
                ('comment_count', fields.IntField(default=0)),
                ('reply_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'posts', 'app': 'gesso', 'indexes': [Index(fields=['author_id', 'id'], name='posts_author_id'), Index(fields=['visibility', 'id'], name='posts_visibility_id')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Comment',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('author', fields.ForeignKeyField('gesso.User', source_field='author_id', db_constraint=True, to_field='id', related_name='comments', on_delete=OnDelete.CASCADE)),
                ('post', fields.ForeignKeyField('gesso.Post', source_field='post_id', null=True, db_constraint=True, to_field='id', related_name='comments', on_delete=OnDelete.CASCADE)),
                ('artwork', fields.ForeignKeyField('gesso.Artwork', source_field='artwork_id', null=True, db_constraint=True, to_field='id', related_name='comments', on_delete=OnDelete.CASCADE)),
                ('text', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'comments', 'app': 'gesso', 'indexes': [Index(fields=['post_id', 'id'], name='comments_post_id'), Index(fields=['artwork_id', 'id'], name='comments_artwork_id')], 'pk_attr': 'id', 'table_description': 'A comment on exactly one post or one artwork.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PostArtwork',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('post', fields.ForeignKeyField('gesso.Post', source_field='post_id', db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.CASCADE)),
                ('artwork', fields.ForeignKeyField('gesso.Artwork', source_field='artwork_id', db_constraint=True, to_field='id', related_name='attached_to', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField(default=0)),
            ],
            options={'table': 'post_artworks', 'app': 'gesso', 'unique_together': (('post_id', 'artwork_id'),), 'pk_attr': 'id', 'table_description': 'An artwork attached to a post, in display order.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PostLike',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('gesso.User', source_field='user_id', db_constraint=True, to_field='id', related_name='post_likes', on_delete=OnDelete.CASCADE)),
                ('post', fields.ForeignKeyField('gesso.Post', source_field='post_id', db_constraint=True, to_field='id', related_name='likes', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'post_likes', 'app': 'gesso', 'unique_together': (('user_id', 'post_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PostTag',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('post', fields.ForeignKeyField('gesso.Post', source_field='post_id', db_constraint=True, to_field='id', related_name='post_tags', on_delete=OnDelete.CASCADE)),
                ('tag', fields.CharField(max_length=50)),
            ],
            options={'table': 'post_tags', 'app': 'gesso', 'unique_together': (('tag', 'post_id'),), 'pk_attr': 'id', 'table_description': 'A tag of a post (its #hashtags and the tags of its attached artworks), for tagFeed.'},
            bases=['Model'],
        ),
    ]
