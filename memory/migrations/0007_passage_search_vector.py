# A full-text column on archival passages, kept up to date by the database (issue 18).
#
# Nothing here rewrites the table or reads its rows: a nullable column without a default
# is a change to the catalogue alone, and the trigger only acts on rows written from now
# on. Rows stored before keep NULL until the background backfill fills them
# (memory/fulltext.py; `manage.py backfill_search`); archival search finds them through
# the vector ranking meanwhile. The indexes come in 0008, built without locking writes.

import django.contrib.postgres.search
from django.db import migrations

# Both statements below wait for an exclusive lock on memory_passage, and while one waits
# every query of the table queues behind it. Give up after a while instead (run migrate
# again later) rather than stall searches behind a long transaction.
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'"

# PostgreSQL's built-in trigger function; the configuration is schema-qualified so that
# no search_path can change which one it is. It must stay the one memory.models names
# (TEXT_SEARCH_CONFIG), which searches and the backfill use.
CREATE_TRIGGER = """
CREATE TRIGGER memory_passage_search_vector
BEFORE INSERT OR UPDATE OF text ON memory_passage
FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.simple', text)
"""
DROP_TRIGGER = "DROP TRIGGER IF EXISTS memory_passage_search_vector ON memory_passage"


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0006_review_and_guards'),
    ]

    operations = [
        migrations.RunSQL(LOCK_TIMEOUT, reverse_sql=LOCK_TIMEOUT),
        migrations.AddField(
            model_name='passage',
            name='search_vector',
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunSQL(CREATE_TRIGGER, reverse_sql=DROP_TRIGGER),
    ]
