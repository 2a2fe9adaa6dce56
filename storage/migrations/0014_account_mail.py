from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.models import AccountTokenPurpose
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('gesso', '0013_search')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccountToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('gesso.User', source_field='user_id', db_constraint=True, to_field='id', related_name='account_tokens', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharEnumField(description='PASSWORD_RESET: password_reset\nVERIFY_EMAIL: verify_email', enum_type=AccountTokenPurpose, max_length=16)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('email_key', fields.CharField(max_length=254)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_tokens', 'app': 'gesso', 'indexes': [Index(fields=['user_id', 'purpose'], name='account_tokens_user')], 'pk_attr': 'id', 'table_description': 'A single-use secret mailed to an account (a password reset, an email verification),'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='email_verified',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
