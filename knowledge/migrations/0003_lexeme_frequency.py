"""Lexeme frequencies for full-text IDF, copied from pg_stats (see LexemeFrequency).

Filled here from the statistics an earlier ANALYZE left, so an existing knowledge base keeps
its term weights without a re-ingest; afterwards chunk_statistics_refresh keeps it current.
"""

from django.db import migrations, models

FILL_SQL = """
INSERT INTO knowledge_lexemefrequency (lexeme, frequency)
SELECT x.lexeme, x.freq
FROM pg_stats s
CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS x(lexeme, freq)
WHERE s.schemaname = current_schema() AND s.tablename = 'knowledge_chunk' AND s.attname = 'search_vector'
  AND x.lexeme IS NOT NULL
ON CONFLICT (lexeme) DO NOTHING
"""


class Migration(migrations.Migration):

    dependencies = [
        ("knowledge", "0002_documents_chunks"),
    ]

    operations = [
        migrations.CreateModel(
            name="LexemeFrequency",
            fields=[
                ("lexeme", models.TextField(primary_key=True, serialize=False)),
                ("frequency", models.FloatField()),
            ],
        ),
        migrations.RunSQL(FILL_SQL, migrations.RunSQL.noop),
    ]
