from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from storage.ids import new_id
from storage.models import NotificationKind
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('gesso', '0011_safety')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('recipient', fields.ForeignKeyField('gesso.User', source_field='recipient_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='NEW_FOLLOWER: new_follower\nPOST_LIKED: post_liked\nARTWORK_LIKED: artwork_liked\nCOMMENT: comment\nREPLY: reply\nMENTION: mention\nMODERATION: moderation\nNOTICE: notice', enum_type=NotificationKind, max_length=16)),
                ('actor', fields.ForeignKeyField('gesso.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='notifications_caused', on_delete=OnDelete.CASCADE)),
                ('actor_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('actor_count', fields.IntField(default=1)),
                ('post', fields.ForeignKeyField('gesso.Post', source_field='post_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('artwork', fields.ForeignKeyField('gesso.Artwork', source_field='artwork_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('comment', fields.ForeignKeyField('gesso.Comment', source_field='comment_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('message', fields.TextField(default='', unique=False)),
                ('group_key', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'notifications', 'app': 'gesso', 'unique_together': (('recipient_id', 'group_key'),), 'indexes': [Index(fields=['recipient_id', 'id'], name='notifications_recipient_id'), Index(fields=['actor_id'], name='notifications_actor'), Index(fields=['post_id'], name='notifications_post'), Index(fields=['artwork_id'], name='notifications_artwork'), Index(fields=['comment_id'], name='notifications_comment'), Index(fields=['created_at'], name='notifications_created')], 'pk_attr': 'id', 'table_description': 'Something that happened for an account, kept for its inbox until pruned.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='notifications_read_id',
            field=fields.BigIntField(default=0, db_default=0),
        ),
    ]
