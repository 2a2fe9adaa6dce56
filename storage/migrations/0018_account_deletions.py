from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from storage.models import DeletionState
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('gesso', '0017_report_outcomes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccountDeletion',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, unique=True, db_index=True)),
                ('handle_key', fields.CharField(unique=True, max_length=30)),
                ('state', fields.CharEnumField(default=DeletionState.RUNNING, description='RUNNING: running\nDONE: done', enum_type=DeletionState, max_length=16)),
                ('step', fields.CharField(default='', max_length=32)),
                ('removed', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('queued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_deletions', 'app': 'gesso', 'indexes': [Index(fields=['state', 'id'], name='account_deletions_state')], 'pk_attr': 'id', 'table_description': "An account's deletion (``deleteAccount``): its durable record, and from the moment it is"},
            bases=['Model'],
        ),
    ]
