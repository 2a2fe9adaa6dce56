from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.ids import new_id
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('gesso', '0015_sessions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PostRevision',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('post', fields.ForeignKeyField('gesso.Post', source_field='post_id', db_constraint=True, to_field='id', related_name='revisions', on_delete=OnDelete.CASCADE)),
                ('text', fields.TextField(unique=False)),
                ('written_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('replaced_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'post_revisions', 'app': 'gesso', 'indexes': [Index(fields=['post_id', 'id'], name='post_revisions_post_id')], 'pk_attr': 'id', 'table_description': 'An earlier text of a post, kept when the post was edited: the text it had until'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Post',
            name='edited_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
