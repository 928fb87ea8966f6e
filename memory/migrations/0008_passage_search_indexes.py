# The indexes of archival full-text search, built with CREATE INDEX CONCURRENTLY: the
# build reads the table while writes go on, so deploying never locks archival memory for
# the minutes a large table takes. That cannot run inside a transaction, hence
# atomic = False. Should a build fail half-way (a deadlock, a cancelled migrate), it
# leaves an INVALID index of the same name: drop it (DROP INDEX CONCURRENTLY name) and run
# migrate again.

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('memory', '0007_passage_search_vector'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='passage',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search_vector'], name='passage_search_vector_gin'),
        ),
        AddIndexConcurrently(
            model_name='passage',
            index=models.Index(condition=models.Q(('search_vector__isnull', True)), fields=['id'], name='passage_search_pending'),
        ),
    ]
