from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('gesso', '0003_media_assets')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OrphanedObject',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=600)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'orphaned_objects', 'app': 'gesso', 'pk_attr': 'id', 'table_description': 'An object no row refers to that could not be removed at once (the store was down).'},
            bases=['Model'],
        ),
    ]
