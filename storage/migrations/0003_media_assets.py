from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from storage.ids import new_id
from storage.models import MediaKind
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('gesso', '0002_fk_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MediaAsset',
            fields=[
                ('id', fields.BigIntField(primary_key=True, generated=False, default=new_id, unique=True, db_index=True)),
                ('owner', fields.ForeignKeyField('gesso.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='media', on_delete=OnDelete.CASCADE)),
                ('artwork', fields.ForeignKeyField('gesso.Artwork', source_field='artwork_id', null=True, db_constraint=True, to_field='id', related_name='images', on_delete=OnDelete.CASCADE)),
                ('post', fields.ForeignKeyField('gesso.Post', source_field='post_id', null=True, db_constraint=True, to_field='id', related_name='images', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='ARTWORK: artwork\nPOST: post\nAVATAR: avatar', enum_type=MediaKind, max_length=16)),
                ('position', fields.IntField(default=0)),
                ('watermark_id', fields.BigIntField(unique=True)),
                ('width', fields.IntField()),
                ('height', fields.IntField()),
                ('alt_text', fields.TextField(default='', unique=False)),
                ('dominant_color', fields.CharField(default='#808080', max_length=7)),
                ('variants', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('report', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('original_key', fields.CharField(null=True, max_length=600)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'media_assets', 'app': 'gesso', 'indexes': [Index(fields=['artwork_id', 'position'], name='media_artwork_pos'), Index(fields=['post_id', 'position'], name='media_post_pos'), Index(fields=['owner_id', 'kind', 'id'], name='media_owner_kind')], 'pk_attr': 'id', 'table_description': 'One protected image: its published variants, its report and its watermark id.'},
            bases=['Model'],
        ),
    ]
