from tortoise import migrations
from tortoise.migrations import operations as ops

# The posts of an artist that a follower may see (resolvers.rules.HOME: public and followers
# only), newest first: the home feed's merge reads one range of it per followed artist, with no
# filter (a range per visibility of posts_author_visibility costs an index descent each, and a
# filter on posts_author_id would read the private notes to throw them away). A partial index on
# a condition the models cannot express, so it is written out (both backends take it); its
# condition is the rule's own (tests/security/test_feed_cost.py checks that they agree).
_AUTHOR_SHARED_INDEX = (
    "CREATE INDEX posts_author_shared ON posts (author_id, id)"
    " WHERE visibility IN ('public', 'followers')"
)
_DROP_AUTHOR_SHARED_INDEX = "DROP INDEX posts_author_shared"


class Migration(migrations.Migration):
    dependencies = [('gesso', '0019_account_exports')]

    initial = False

    operations = [
        ops.RunSQL(_AUTHOR_SHARED_INDEX, _DROP_AUTHOR_SHARED_INDEX),
    ]
