from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from storage.ids import new_id
from storage.models import ReportReason, ReportStatus, Role, SubjectType
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

# The suspended accounts (resolvers.rules.SUSPENDED): every feed statement looks its authors up
# here, so it must be a tiny index, not a scan of the users. A partial index on a condition the
# models cannot express, so it is written out (both backends take it).
_SUSPENDED_INDEX = "CREATE INDEX users_suspended ON users (id) WHERE suspended_at IS NOT NULL"
_DROP_SUSPENDED_INDEX = "DROP INDEX users_suspended"


class Migration(migrations.Migration):
    dependencies = [('gesso', '0010_media_processing')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Block',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('blocker', fields.ForeignKeyField('gesso.User', source_field='blocker_id', db_constraint=True, to_field='id', related_name='blocking_rows', on_delete=OnDelete.CASCADE)),
                ('blocked', fields.ForeignKeyField('gesso.User', source_field='blocked_id', db_constraint=True, to_field='id', related_name='blocked_by_rows', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'blocks', 'app': 'gesso', 'unique_together': (('blocker_id', 'blocked_id'),), 'indexes': [Index(fields=['blocked_id', 'blocker_id'], name='blocks_blocked_blocker')], 'pk_attr': 'id', 'table_description': '``blocker`` blocked ``blocked``: each is hidden from the other everywhere'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ModerationAction',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('moderator', fields.ForeignKeyField('gesso.User', source_field='moderator_id', null=True, db_constraint=True, to_field='id', related_name='moderation_actions', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(max_length=32)),
                ('subject_type', fields.CharEnumField(description='USER: user\nPOST: post\nARTWORK: artwork\nCOMMENT: comment', enum_type=SubjectType, max_length=16)),
                ('subject_id', fields.BigIntField()),
                ('subject_owner_id', fields.BigIntField(null=True)),
                ('note', fields.TextField(default='', unique=False)),
                ('reports', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'moderation_actions', 'app': 'gesso', 'pk_attr': 'id', 'table_description': 'One moderation action, as the audit log keeps it: who did what to which subject, why, and'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Block',
            index=Index(fields=['blocker_id', 'id'], name='blocks_blocker_id'),
        ),
        ops.CreateModel(
            name='Mute',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('muter', fields.ForeignKeyField('gesso.User', source_field='muter_id', db_constraint=True, to_field='id', related_name='muting_rows', on_delete=OnDelete.CASCADE)),
                ('muted', fields.ForeignKeyField('gesso.User', source_field='muted_id', db_constraint=True, to_field='id', related_name='muted_by_rows', on_delete=OnDelete.CASCADE)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'mutes', 'app': 'gesso', 'unique_together': (('muter_id', 'muted_id'),), 'indexes': [Index(fields=['muted_id'], name='mutes_muted')], 'pk_attr': 'id', 'table_description': "``muter`` muted ``muted`` until ``expires_at`` (null: until unmuted): the muted member's"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Report',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('reporter', fields.ForeignKeyField('gesso.User', source_field='reporter_id', db_constraint=True, to_field='id', related_name='reports_made', on_delete=OnDelete.CASCADE)),
                ('subject_type', fields.CharEnumField(description='USER: user\nPOST: post\nARTWORK: artwork\nCOMMENT: comment', enum_type=SubjectType, max_length=16)),
                ('subject_id', fields.BigIntField()),
                ('subject_owner', fields.ForeignKeyField('gesso.User', source_field='subject_owner_id', db_constraint=True, to_field='id', related_name='reports_received', on_delete=OnDelete.CASCADE)),
                ('reason', fields.CharEnumField(description='AI_GENERATED: ai_generated\nSTOLEN_ART: stolen_art\nHARASSMENT: harassment\nSPAM: spam\nSEXUAL_CONTENT_UNLABELLED: sexual_content_unlabelled\nOTHER: other', enum_type=ReportReason, max_length=32)),
                ('note', fields.TextField(default='', unique=False)),
                ('status', fields.CharEnumField(default=ReportStatus.OPEN, description='OPEN: open\nRESOLVED: resolved', enum_type=ReportStatus, max_length=16)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=80)),
                ('action', fields.CharField(null=True, max_length=32)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reports', 'app': 'gesso', 'indexes': [Index(fields=['status', 'id'], name='reports_status_id'), Index(fields=['subject_type', 'subject_id', 'status'], name='reports_subject'), Index(fields=['reporter_id', 'id'], name='reports_reporter_id')], 'pk_attr': 'id', 'table_description': "A member's report of a user, post, artwork or comment, open until a moderator resolves"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Artwork',
            name='ai_generated',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Artwork',
            name='content_warning',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
        ops.AddField(
            model_name='Artwork',
            name='sensitive',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='MediaAsset',
            name='sensitive',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Post',
            name='ai_generated',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Post',
            name='content_warning',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
        ops.AddField(
            model_name='Post',
            name='sensitive',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='User',
            name='role',
            field=fields.CharEnumField(default=Role.MEMBER, description='MEMBER: member\nMODERATOR: moderator\nADMIN: admin', db_default='member', enum_type=Role, max_length=16),
        ),
        ops.AddField(
            model_name='User',
            name='show_sensitive',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='User',
            name='suspended_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunSQL(_SUSPENDED_INDEX, _DROP_SUSPENDED_INDEX),
    ]
