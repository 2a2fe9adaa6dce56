from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.models import NotificationKind
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('gesso', '0016_post_edits')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='NEW_FOLLOWER: new_follower\nPOST_LIKED: post_liked\nARTWORK_LIKED: artwork_liked\nCOMMENT: comment\nREPLY: reply\nMENTION: mention\nMODERATION: moderation\nNOTICE: notice\nREPORT_RESOLVED: report_resolved', enum_type=NotificationKind, max_length=16),
        ),
        ops.AddField(
            model_name='Notification',
            name='outcome',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='Notification',
            name='report_id',
            field=fields.BigIntField(null=True),
        ),
    ]
