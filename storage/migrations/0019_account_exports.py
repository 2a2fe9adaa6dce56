from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.ids import new_id
from storage.models import ExportStatus, NotificationKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('gesso', '0018_account_deletions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccountExport',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('gesso.User', source_field='user_id', db_constraint=True, to_field='id', related_name='exports', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=ExportStatus.PENDING, description='PENDING: pending\nREADY: ready\nDOWNLOADED: downloaded\nEXPIRED: expired\nFAILED: failed', enum_type=ExportStatus, max_length=16)),
                ('object_key', fields.CharField(null=True, max_length=600)),
                ('byte_size', fields.BigIntField(null=True)),
                ('error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('queued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ready_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('downloaded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_exports', 'app': 'gesso', 'indexes': [Index(fields=['user_id', 'id'], name='account_exports_user_id'), Index(fields=['status', 'expires_at'], name='account_exports_status')], 'pk_attr': 'id', 'table_description': "An archive of an account's own things (exportAccount): a zip built by a job, stored"},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='NEW_FOLLOWER: new_follower\nPOST_LIKED: post_liked\nARTWORK_LIKED: artwork_liked\nCOMMENT: comment\nREPLY: reply\nMENTION: mention\nMODERATION: moderation\nNOTICE: notice\nREPORT_RESOLVED: report_resolved\nEXPORT_READY: export_ready', enum_type=NotificationKind, max_length=16),
        ),
    ]
