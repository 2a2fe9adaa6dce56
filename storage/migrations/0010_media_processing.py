from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.models import MediaStatus
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('gesso', '0008_keyset_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='MediaAsset',
            name='queued_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='MediaAsset',
            name='refusal_code',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='MediaAsset',
            name='refusal_message',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='MediaAsset',
            name='stage',
            field=fields.CharField(default='ready', db_default='ready', max_length=16),
        ),
        ops.AddField(
            model_name='MediaAsset',
            name='staging_key',
            field=fields.CharField(null=True, max_length=600),
        ),
        ops.AddField(
            model_name='MediaAsset',
            name='status',
            field=fields.CharEnumField(default=MediaStatus.READY, description='PROCESSING: processing\nREADY: ready\nREFUSED: refused', db_default='ready', enum_type=MediaStatus, max_length=16),
        ),
        ops.AddField(
            model_name='MediaAsset',
            name='upload_key',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddIndex(
            model_name='MediaAsset',
            index=Index(fields=['status', 'id'], name='media_status'),
        ),
        ops.AddConstraint(
            model_name='MediaAsset',
            constraint=UniqueConstraint(fields=('owner_id', 'upload_key'), name=None),
        ),
    ]
