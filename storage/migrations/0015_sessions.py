from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('gesso', '0014_account_mail')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AuthToken',
            name='last_used_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='AuthToken',
            name='user_agent',
            field=fields.CharField(default='', db_default='', max_length=255),
        ),
    ]
