"""Each agent's and each source's passage count, kept by statement-level triggers on
memory_passage, so the system prompt's archival count is a lookup instead of a count over
archival memory, which grows with it. A passage counts for its agent, or, holding none,
for its source (the product never sets both). Nothing changes a passage's agent or source
after it is stored; an UPDATE trigger with transition tables cannot be limited to those
columns, and would fire on every edit and every search-vector backfill."""

from django.db import migrations, models

COUNT_FUNCTION = """
CREATE FUNCTION memory_count_passages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO memory_passagecount (holder, count)
        SELECT holder, count(*) FROM (
            SELECT COALESCE(agent_id, source_id) AS holder FROM new_rows
        ) AS added
        WHERE holder IS NOT NULL GROUP BY holder
        ON CONFLICT (holder)
        DO UPDATE SET count = memory_passagecount.count + EXCLUDED.count;
    ELSE
        UPDATE memory_passagecount AS counted SET count = counted.count - gone.n
        FROM (
            SELECT COALESCE(agent_id, source_id) AS holder, count(*) AS n
            FROM old_rows GROUP BY 1
        ) AS gone
        WHERE counted.holder = gone.holder;
        DELETE FROM memory_passagecount WHERE count <= 0;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER memory_passage_counted_in AFTER INSERT ON memory_passage
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION memory_count_passages();
CREATE TRIGGER memory_passage_counted_out AFTER DELETE ON memory_passage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION memory_count_passages();
"""

# The passages already there, counted while nobody can write one (a count, then done).
BACKFILL = """
LOCK TABLE memory_passage IN SHARE MODE;
INSERT INTO memory_passagecount (holder, count)
SELECT COALESCE(agent_id, source_id), count(*) FROM memory_passage
WHERE COALESCE(agent_id, source_id) IS NOT NULL GROUP BY 1;
"""

DROP = """
DROP TRIGGER IF EXISTS memory_passage_counted_in ON memory_passage;
DROP TRIGGER IF EXISTS memory_passage_counted_out ON memory_passage;
DROP FUNCTION IF EXISTS memory_count_passages();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0008_passage_search_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='PassageCount',
            fields=[
                ('holder', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('count', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunSQL(COUNT_FUNCTION + BACKFILL, DROP),
    ]
