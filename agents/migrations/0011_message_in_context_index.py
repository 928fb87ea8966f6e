"""The context a turn reads, indexed on its own: a partial index of the messages still in
context, built without locking the table against writes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('agents', '0010_message_count'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='message',
            index=models.Index(condition=models.Q(('in_context', True)), fields=['agent', 'seq'], name='message_agent_in_context'),
        ),
    ]
