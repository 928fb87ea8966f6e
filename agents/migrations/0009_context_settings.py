from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0008_agent_evaluation_id'),
    ]

    operations = [
        migrations.AddField(
            model_name='agent',
            name='context_tail_turns',
            field=models.PositiveIntegerField(default=5),
        ),
        migrations.AddField(
            model_name='agent',
            name='context_token_budget',
            field=models.PositiveIntegerField(default=0),
        ),
    ]
