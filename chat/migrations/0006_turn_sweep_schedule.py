"""A periodic job that answers chat turns whose answer stream never connected, and marks turns
cut off mid-answer as failed (chat.services.turns). get_or_create by name, so a schedule staff
edited in the admin is kept; the reverse removes only this row.
"""

from django.db import migrations

NAME = "Abandoned chat turns"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "chat.tasks.turns_sweep_abandoned",
            "interval": interval,
            "description": "Queues an answer (llm queue) for each web chat turn still waiting for its stream "
            "past the grace period, and marks turns cut off mid-answer as not answered.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0005_pending_action_superseded"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
