"""The rollup triggers (0004) also delete histogram rows their change brought to zero answers.

Deleting answers of a sealed day left (day, latency_ms) rows at zero; they counted for nothing
but the dashboard still read them, and a bulk erasure followed by new traffic at other
latencies could grow a day's histogram without bound. The upsert now returns the rows it
touched and those left at zero are deleted in the same trigger call, and the rows 0004's
functions left at zero are deleted once here. Same functions as 0004 otherwise (CREATE OR
REPLACE keeps the triggers); the reverse restores 0004's bodies.
"""

from django.db import migrations

_ANSWERS = "SELECT created_at, latency_ms, {sign} AS delta FROM {table} WHERE role = 'assistant' AND latency_ms IS NOT NULL"
_CHANGES = {
    "insert": _ANSWERS.format(sign=1, table="new_answers"),
    "delete": _ANSWERS.format(sign=-1, table="old_answers"),
    "update": _ANSWERS.format(sign=1, table="new_answers") + " UNION ALL " + _ANSWERS.format(sign=-1, table="old_answers"),
}
_DELTAS = """
    WITH changes AS ({changes}),
    zones AS (SELECT DISTINCT time_zone FROM tickets_dashboardrollupday),
    deltas AS (
        SELECT z.time_zone, (c.created_at AT TIME ZONE z.time_zone)::date AS day, c.latency_ms, sum(c.delta) AS delta
        FROM changes c CROSS JOIN zones z
        GROUP BY 1, 2, 3
        HAVING sum(c.delta) <> 0
    )"""
_UPSERT = """
    INSERT INTO tickets_dailyanswerlatency (time_zone, day, latency_ms, answers)
    SELECT d.time_zone, d.day, d.latency_ms, d.delta
    FROM deltas d JOIN tickets_dashboardrollupday s ON s.time_zone = d.time_zone AND s.day = d.day
    ON CONFLICT (time_zone, day, latency_ms) DO UPDATE SET answers = tickets_dailyanswerlatency.answers + EXCLUDED.answers"""


def _function(kind: str, body: str, declare: str = "") -> str:
    return f"""
CREATE OR REPLACE FUNCTION tickets_answer_latency_on_{kind}() RETURNS trigger LANGUAGE plpgsql AS $$
{declare}BEGIN
    IF EXISTS (SELECT 1 FROM tickets_dashboardrollupday) THEN
        {body}
    END IF;
    RETURN NULL;
END
$$;
"""


# One statement cannot both update a row and delete it, so the upsert hands the ids of the rows
# it left at zero to a second statement.
FORWARD_SQL = "".join(
    _function(
        kind,
        _DELTAS.format(changes=_CHANGES[kind])
        + ", applied AS (" + _UPSERT + " RETURNING id, answers)"
        + "\n    SELECT array_agg(id) FILTER (WHERE answers = 0) INTO emptied FROM applied;"
        + "\n        IF emptied IS NOT NULL THEN"
        + "\n            DELETE FROM tickets_dailyanswerlatency WHERE id = ANY(emptied) AND answers = 0;"
        + "\n        END IF;",
        declare="DECLARE emptied bigint[];\n",
    )
    for kind in ("insert", "update", "delete")
) + "DELETE FROM tickets_dailyanswerlatency WHERE answers = 0;"  # left by 0004's triggers
REVERSE_SQL = "".join(
    _function(kind, _DELTAS.format(changes=_CHANGES[kind]) + _UPSERT + ";") for kind in ("insert", "update", "delete")
)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0005_dashboard_rollup_schedule")]

    operations = [migrations.RunSQL(FORWARD_SQL, REVERSE_SQL)]
