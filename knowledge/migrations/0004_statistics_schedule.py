"""A periodic job that keeps the full-text term weights (LexemeFrequency) in step with the chunks.

Catalog documents change with stock, one product at a time, and do not refresh the weights
themselves; every ten minutes the job refreshes them if any chunk changed. get_or_create by
name, so a schedule staff edited in the admin is kept; the reverse removes only this row.
"""

from django.db import migrations

NAME = "Knowledge search statistics"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "knowledge.tasks.refresh_chunk_statistics",
            "interval": interval,
            "description": "Re-samples the chunks' word frequencies for search ranking when chunks changed since the last sample.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0003_lexeme_frequency"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
