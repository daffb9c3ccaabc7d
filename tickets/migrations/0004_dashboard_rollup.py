"""The dashboard's daily rollup of assistant latency, and the triggers that keep sealed days exact.

A sealed day's histogram (tickets_dailyanswerlatency) is built once by
tickets.analytics_rollup.dashboard_rollup_seal. After that, any statement that inserts, updates
or deletes answered assistant messages of a sealed day applies its net change here, in the same
transaction: a cascade from a deleted customer, an erasure, raw SQL — nothing can make the
rollup disagree with chat_message. Statement-level triggers with transition tables, so a bulk
delete costs one grouped upsert rather than one per row. Today is never sealed, so ordinary
chat traffic only pays for a lookup that finds no sealed day (no row locks, no contention).
"""

import django.utils.timezone
from django.db import migrations, models

# One function per kind of statement: a DELETE trigger has no NEW TABLE, an INSERT no OLD TABLE.
# The day of an answer is taken in each sealed time zone (normally one: settings.TIME_ZONE).
_APPLY_CHANGES = """
    WITH changes AS ({changes}),
    zones AS (SELECT DISTINCT time_zone FROM tickets_dashboardrollupday),
    deltas AS (
        SELECT z.time_zone, (c.created_at AT TIME ZONE z.time_zone)::date AS day, c.latency_ms, sum(c.delta) AS delta
        FROM changes c CROSS JOIN zones z
        GROUP BY 1, 2, 3
        HAVING sum(c.delta) <> 0
    )
    INSERT INTO tickets_dailyanswerlatency (time_zone, day, latency_ms, answers)
    SELECT d.time_zone, d.day, d.latency_ms, d.delta
    FROM deltas d JOIN tickets_dashboardrollupday s ON s.time_zone = d.time_zone AND s.day = d.day
    ON CONFLICT (time_zone, day, latency_ms) DO UPDATE SET answers = tickets_dailyanswerlatency.answers + EXCLUDED.answers;
"""
_ANSWERS = "SELECT created_at, latency_ms, {sign} AS delta FROM {table} WHERE role = 'assistant' AND latency_ms IS NOT NULL"
_CHANGES = {
    "insert": _ANSWERS.format(sign=1, table="new_answers"),
    "delete": _ANSWERS.format(sign=-1, table="old_answers"),
    "update": _ANSWERS.format(sign=1, table="new_answers") + " UNION ALL " + _ANSWERS.format(sign=-1, table="old_answers"),
}
_REFERENCING = {
    "insert": "NEW TABLE AS new_answers",
    "delete": "OLD TABLE AS old_answers",
    "update": "NEW TABLE AS new_answers OLD TABLE AS old_answers",
}

TRIGGERS_SQL = "".join(
    f"""
CREATE FUNCTION tickets_answer_latency_on_{kind}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tickets_dashboardrollupday) THEN
        {_APPLY_CHANGES.format(changes=_CHANGES[kind])}
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tickets_answer_latency_on_{kind} AFTER {kind.upper()} ON chat_message
    REFERENCING {_REFERENCING[kind]} FOR EACH STATEMENT EXECUTE FUNCTION tickets_answer_latency_on_{kind}();
"""
    for kind in ("insert", "update", "delete")
)
DROP_TRIGGERS_SQL = "".join(
    f"DROP TRIGGER tickets_answer_latency_on_{kind} ON chat_message; DROP FUNCTION tickets_answer_latency_on_{kind}();"
    for kind in ("insert", "update", "delete")
)


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0003_support_groups'),
        ('chat', '0003_answer_latency_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='DailyAnswerLatency',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('time_zone', models.CharField(max_length=64)),
                ('day', models.DateField()),
                ('latency_ms', models.PositiveIntegerField()),
                ('answers', models.IntegerField()),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('time_zone', 'day', 'latency_ms'), include=('answers',), name='daily_answer_latency_unique')],
            },
        ),
        migrations.CreateModel(
            name='DashboardRollupDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('time_zone', models.CharField(max_length=64)),
                ('day', models.DateField()),
                ('sealed_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('time_zone', 'day'), name='dashboard_rollup_day_unique')],
            },
        ),
        migrations.RunSQL(TRIGGERS_SQL, DROP_TRIGGERS_SQL),
    ]
